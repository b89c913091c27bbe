# Copyright (c) mmgres contributors. All rights reserved.
from .grefcoco import GRefCOCODataset
from .llava_instruct import LlavaInstructDataset
from .part_seg_refer import (
    PacoLvisReferDataset,
    PartSegReferDataset,
    PascalPartReferDataset,
)
from .reason_seg import ReasonSegDataset
from .refclef import RefCLEFDataset
from .refcoco import RefCOCODataset
from .refer_base import BaseReferDataset, ReferDataError
from .refzom import RefZOMDataset
from .rrefcoco import RRefCOCODataset
from .samplers import (
    ImageBatchSampler,
    ImageGroupedSampler,
    ImageShardSampler,
)
from .sem_seg_refer import SemSegReferDataset
from .synthetic import SYNTHETIC_VOCAB, generate_synthetic_grefcoco
from .transforms import *  # noqa: F401,F403
from .utils import ReferFormatError, find_dataset_problems

__all__ = [
    'BaseReferDataset',
    'GRefCOCODataset',
    'LlavaInstructDataset',
    'PacoLvisReferDataset',
    'PartSegReferDataset',
    'PascalPartReferDataset',
    'ReasonSegDataset',
    'RefCLEFDataset',
    'RefCOCODataset',
    'RefZOMDataset',
    'RRefCOCODataset',
    'SemSegReferDataset',
    'ImageBatchSampler',
    'ImageGroupedSampler',
    'ImageShardSampler',
    'ReferDataError',
    'ReferFormatError',
    'find_dataset_problems',
    'SYNTHETIC_VOCAB',
    'generate_synthetic_grefcoco',
]
