# Copyright (c) mmgres contributors. All rights reserved.
from .image_batch_sampler import ImageBatchSampler, ImageShardSampler
from .image_grouped_sampler import ImageGroupedSampler
from .ratio_sampler import RatioMixtureSampler

__all__ = [
    'ImageBatchSampler',
    'ImageGroupedSampler',
    'ImageShardSampler',
    'RatioMixtureSampler',
]
