# Copyright (c) mmgres contributors. All rights reserved.
"""Ref-ZOM arithmetic (DMMI's evaluation).

A sample is reduced to the same five integers as a GRES record::

    (gt_empty, pred_empty, intersection, pred_pixels, gt_pixels)

- ``oIoU = ΣI / ΣU`` and ``mIoU`` = mean IoU, over **non-empty** samples
  (``gt_empty`` False) only;
- ``Acc`` = the fraction of empty samples predicted empty.

DMMI decides "predicted empty" by zero foreground pixels; the metric class
makes that the default (``nt_source='empty_mask', min_pixels=1``). When a
non-empty sample is predicted empty although its mask has pixels (possible
with the other decision rules), ReLA's rule applies: ``I = 0``, the union is
kept. With DMMI's rule the two coincide.
"""

from typing import Dict, Sequence

import numpy as np

from .gres import gres_sample
from .ratio import percent


def compute_refzom_metrics(
    records: Sequence[Sequence[int]],
) -> Dict[str, float]:
    """oIoU, mIoU and Acc from per-sample records.

    Args:
        records (Sequence): N records ``(gt_empty, pred_empty,
            intersection, pred_pixels, gt_pixels)``.

    Returns:
        dict[str, float]: ``oIoU``, ``mIoU`` and ``Acc``, in percent; NaN
        where the population is empty.

    Example:
        Two non-empty samples with (I, U) = (3, 4) and (1, 4), and two empty
        samples of which one is predicted empty: oIoU = 4/8 = 50,
        mIoU = (0.75 + 0.25)/2 = 50, Acc = 1/2 = 50.
    """
    sum_i = sum_u = 0
    ious = []
    num_empty = num_empty_ok = 0
    for rec in np.asarray(records, dtype=np.int64).reshape(-1, 5).tolist():
        gt_empty, pred_empty, inter, pred_px, gt_px = rec
        if gt_empty:
            num_empty += 1
            num_empty_ok += bool(pred_empty)
            continue
        iou, add_i, add_u = gres_sample(
            False, bool(pred_empty), inter, pred_px, gt_px
        )
        ious.append(iou)
        sum_i += add_i
        sum_u += add_u
    return {
        'oIoU': percent(sum_i, sum_u),
        'mIoU': percent(sum(ious), len(ious)),
        'Acc': percent(num_empty_ok, num_empty),
    }
