# Copyright (c) mmgres contributors. All rights reserved.
"""Registered metrics (mmengine ``BaseMetric``), one per file."""

from .base_mask_metric import BaseMaskMetric
from .cover_acc_metric import CoverAcc
from .grec_metric import GRECMetric
from .gres_metric import GRESMetric
from .rec_metric import RECMetric
from .refzom_metric import RefZOMMetric
from .res_metric import RESMetric
from .rrefcoco_metric import RRefCOCOMetric

__all__ = [
    'BaseMaskMetric',
    'GRESMetric',
    'GRECMetric',
    'RefZOMMetric',
    'RRefCOCOMetric',
    'RESMetric',
    'RECMetric',
    'CoverAcc',
]
