# Copyright (c) mmgres contributors. All rights reserved.
from .annotation_io import ReferFormatError, load_coco, load_refs
from .checks import find_dataset_problems
from .segmentation import (
    clean_segmentation,
    decode_segmentation,
    is_valid_polygon,
    segmentation_problem,
)

__all__ = [
    'ReferFormatError',
    'load_coco',
    'load_refs',
    'find_dataset_problems',
    'clean_segmentation',
    'decode_segmentation',
    'is_valid_polygon',
    'segmentation_problem',
]
