# Copyright (c) mmgres contributors. All rights reserved.
"""R-RefCOCO arithmetic (RefSegformer's mIoU, mRR and rIoU).

A sample is reduced to ``(ref_id, exist, pred_empty, intersection,
pred_pixels, gt_pixels)``; ``exist`` False marks a negative sentence (the
described object is not in the image). Samples are grouped by ``ref_id``:

- ``mIoU`` = mean over refs of (mean IoU over the ref's positive sentences);
- ``mRR`` = mean over refs of ``TN / (TN + FP)`` over its negative
  sentences, where FP is a negative predicted non-empty. Refs without a
  negative sentence are skipped (the reference code yields NaN there);
- ``rIoU`` = mean over refs of
  ``ΣI_pos / (ΣU_pos + Σ predicted pixels of the negatives predicted
  non-empty)``.

RefSegformer calls a prediction non-empty when it has any foreground pixel;
the metric class makes that the default (``nt_source='empty_mask',
min_pixels=1``). With another decision rule a negative predicted empty adds
nothing, as in ReLA's no-target TP row, and a positive predicted empty has
``I = 0`` with its union kept (ReLA's FP row). Refs without a positive
sentence are skipped by mIoU and rIoU; a per-sample or per-ref IoU whose
union is 0 counts as 0.
"""

from collections import defaultdict
from typing import Any, Dict, Sequence

from .gres import gres_sample
from .ratio import percent


def compute_rrefcoco_metrics(
    records: Sequence[Sequence[Any]],
) -> Dict[str, float]:
    """mIoU, mRR and rIoU from per-sample records.

    Args:
        records (Sequence): Records ``(ref_id, exist, pred_empty,
            intersection, pred_pixels, gt_pixels)``.

    Returns:
        dict[str, float]: ``mIoU``, ``mRR``, ``rIoU`` in percent; NaN when
        no ref qualifies.

    Example:
        One ref with positives (I, U) = (2, 4), (4, 4) and two negatives,
        one predicted with 4 pixels: mIoU = (0.5 + 1)/2 = 75,
        mRR = 1/2 = 50, rIoU = 6 / (8 + 4) = 50.
    """
    pos_ious = defaultdict(list)
    pos_i = defaultdict(int)
    pos_u = defaultdict(int)
    neg_px = defaultdict(int)
    neg_tn = defaultdict(int)
    neg_n = defaultdict(int)
    for ref_id, exist, pred_empty, inter, pred_px, gt_px in records:
        if exist:
            iou, add_i, add_u = gres_sample(
                False, bool(pred_empty), int(inter), int(pred_px), int(gt_px)
            )
            pos_ious[ref_id].append(iou)
            pos_i[ref_id] += add_i
            pos_u[ref_id] += add_u
        else:
            neg_n[ref_id] += 1
            if pred_empty:
                neg_tn[ref_id] += 1
            else:
                neg_px[ref_id] += int(pred_px)

    miou = [sum(v) / len(v) for v in pos_ious.values()]
    mrr = [neg_tn[r] / n for r, n in neg_n.items()]
    riou = []
    for ref_id in pos_ious:
        denominator = pos_u[ref_id] + neg_px[ref_id]
        riou.append(pos_i[ref_id] / denominator if denominator else 0.0)
    return {
        'mIoU': percent(sum(miou), len(miou)),
        'mRR': percent(sum(mrr), len(mrr)),
        'rIoU': percent(sum(riou), len(riou)),
    }
