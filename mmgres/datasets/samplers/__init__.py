# Copyright (c) mmgres contributors. All rights reserved.
from .image_grouped_sampler import ImageGroupedSampler

__all__ = ['ImageGroupedSampler']
