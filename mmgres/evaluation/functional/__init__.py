# Copyright (c) mmgres contributors. All rights reserved.
"""Pure metric arithmetic: numpy/torch in, numbers out, no registries."""

from .box_ops import box_overlaps, mask_to_box, points_in_boxes, to_box_tensor
from .cover_acc import compute_cover_acc, count_covered
from .grec import (
    compute_grec_metrics,
    grec_f1,
    grec_sample,
    greedy_match_count,
)
from .gres import (
    GRES_RECORD_FIELDS,
    NT_RULES,
    check_nt_rule,
    compute_gres_metrics,
    gres_sample,
)
from .mask_ops import (
    mask_counts,
    merge_masks,
    resize_mask_nearest,
    to_bool_mask,
    to_numpy,
)
from .no_target import NT_SOURCES, check_nt_source, decide_no_target
from .ratio import percent
from .rec import compute_rec_metrics, top1_box_iou
from .refzom import compute_refzom_metrics
from .res import compute_res_metrics
from .rrefcoco import compute_rrefcoco_metrics

__all__ = [
    'to_numpy',
    'to_bool_mask',
    'merge_masks',
    'mask_counts',
    'resize_mask_nearest',
    'NT_SOURCES',
    'check_nt_source',
    'decide_no_target',
    'percent',
    'GRES_RECORD_FIELDS',
    'NT_RULES',
    'check_nt_rule',
    'gres_sample',
    'compute_gres_metrics',
    'to_box_tensor',
    'box_overlaps',
    'mask_to_box',
    'points_in_boxes',
    'greedy_match_count',
    'grec_sample',
    'grec_f1',
    'compute_grec_metrics',
    'compute_refzom_metrics',
    'compute_rrefcoco_metrics',
    'compute_res_metrics',
    'top1_box_iou',
    'compute_rec_metrics',
    'count_covered',
    'compute_cover_acc',
]
