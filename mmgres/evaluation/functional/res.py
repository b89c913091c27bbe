# Copyright (c) mmgres contributors. All rights reserved.
"""Classic RES arithmetic (RefCOCO/+/g): oIoU, mIoU and Pr@thr.

A sample is reduced to ``(intersection, pred_pixels, gt_pixels)``.
"""

from typing import Dict, Sequence

import numpy as np

from .ratio import percent


def compute_res_metrics(
    records: Sequence[Sequence[int]],
    pr_thrs: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
) -> Dict[str, float]:
    """oIoU (the cIoU of GRES), mIoU and precision at IoU thresholds.

    Args:
        records (Sequence): N records ``(intersection, pred_pixels,
            gt_pixels)``.
        pr_thrs (Sequence[float]): A sample counts for ``Pr@thr`` when its
            IoU is ``>= thr`` (as LAVT and ReLA count).

    Returns:
        dict[str, float]: ``oIoU = 100·ΣI/ΣU``, ``mIoU`` = 100·mean IoU (0
        for a sample whose union is 0), ``Pr@thr``; all in percent.
    """
    rec = np.asarray(records, dtype=np.int64).reshape(-1, 3)
    inter, pred_px, gt_px = rec[:, 0], rec[:, 1], rec[:, 2]
    union = pred_px + gt_px - inter
    iou = np.zeros(len(rec), dtype=np.float64)
    iou[union > 0] = inter[union > 0] / union[union > 0]
    results = {
        'oIoU': percent(int(inter.sum()), int(union.sum())),
        'mIoU': percent(iou.sum(), len(iou)),
    }
    for thr in pr_thrs:
        results[f'Pr@{thr:g}'] = percent(
            int(np.count_nonzero(iou >= thr)), len(iou)
        )
    return results
