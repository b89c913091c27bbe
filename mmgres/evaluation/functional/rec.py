# Copyright (c) mmgres contributors. All rights reserved.
"""Classic REC arithmetic: precision of the top-1 box."""

from typing import Any, Dict, Optional, Sequence

import numpy as np

from .box_ops import box_overlaps, to_box_tensor
from .mask_ops import to_numpy
from .ratio import percent


def top1_box_iou(
    pred_boxes: Any, gt_boxes: Any, scores: Optional[Any] = None
) -> float:
    """IoU of the highest-scoring predicted box with the ground truth.

    Args:
        pred_boxes: Shape (P, 4), xyxy.
        gt_boxes: Shape (G, 4), xyxy. Classic REC has G = 1; with more, the
            best-overlapping ground-truth box is used.
        scores: Shape (P,). May be None when P <= 1.

    Returns:
        float: The IoU, or 0.0 when there is no predicted or no gt box.
    """
    boxes = to_box_tensor(pred_boxes)
    gts = to_box_tensor(gt_boxes)
    if boxes.shape[0] == 0 or gts.shape[0] == 0:
        return 0.0
    if boxes.shape[0] > 1:
        if scores is None:
            raise ValueError(
                f'{boxes.shape[0]} predicted boxes need scores '
                'to pick the top-1 box'
            )
        scores = to_numpy(scores).reshape(-1)
        boxes = boxes[int(np.argmax(scores))][None]
    return float(box_overlaps(boxes, gts, mode='iou').max())


def compute_rec_metrics(
    ious: Sequence[float], iou_thrs: Sequence[float] = (0.5,)
) -> Dict[str, float]:
    """``Prec@thr``: the percentage of samples whose top-1 IoU is >= thr.

    Example:
        >>> compute_rec_metrics([0.5, 0.49, 0.9, 0.0])
        {'Prec@0.5': 50.0}
    """
    arr = np.asarray(ious, dtype=np.float64).reshape(-1)
    return {
        f'Prec@{thr:g}': percent(int(np.count_nonzero(arr >= thr)), len(arr))
        for thr in iou_thrs
    }
