# Copyright (c) mmgres contributors. All rights reserved.
"""GREC arithmetic: the official gRefCOCO ``RefExpEvaluator`` rules.

Per sample (per sentence):

1. keep the predicted boxes with ``score >= score_thr`` (0.7);
2. match greedily on generalized IoU: take the global maximum; if it is
   ``>= iou_thr`` count a TP and remove its row and column; repeat;
3. ``FP = #kept - TP``, ``FN = #gt - TP``, ``F1 = 2TP / (2TP + FP + FN)``;
4. a no-target sample has ``F1 = 1`` if no box is kept, else 0;
5. the sample is correct when ``F1 >= 1``.

A sample is reduced to one record
``(gt_no_target, num_kept, num_gt, tp@thr_0, tp@thr_1, ...)``.

The official code zeroes a matched row and column; we remove them, which is
the same for every threshold above 0. Unlike mmdet 3.3's
``gRefCOCOMetric``, all ground-truth boxes of a sample take part, so a
prediction that finds every target of a multi-target expression is correct.
"""

from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch

from .box_ops import box_overlaps, to_box_tensor
from .mask_ops import to_numpy
from .ratio import percent


def greedy_match_count(overlaps: Any, thr: float) -> int:
    """Count the one-to-one matches of a greedy max-overlap assignment.

    Args:
        overlaps: Pairwise scores of shape (P, G), e.g. GIoU of P predicted
            and G ground-truth boxes.
        thr (float): A pair matches when its score is ``>= thr``.

    Returns:
        int: The number of matched pairs (true positives).

    Example:
        Prediction 0 overlaps both targets, prediction 1 only target 0.
        Greedy takes (0, 0) = 0.9 first; then (1, 1) = -0.2 fails, so one TP
        (an optimal assignment would have found two):

        >>> greedy_match_count([[0.9, 0.6], [0.8, -0.2]], 0.5)
        1
    """
    scores = np.array(to_numpy(overlaps), dtype=np.float64, copy=True)
    if scores.ndim != 2:
        raise ValueError(
            f'expected a (P, G) overlap matrix, got shape {scores.shape}'
        )
    num_pred, num_gt = scores.shape
    tp = 0
    for _ in range(min(num_pred, num_gt)):
        flat = int(np.argmax(scores))
        row, col = divmod(flat, num_gt)
        if not scores[row, col] >= thr:
            break
        tp += 1
        scores[row, :] = -np.inf
        scores[:, col] = -np.inf
    return tp


def grec_sample(
    pred_boxes: Any,
    pred_scores: Any,
    gt_boxes: Any,
    iou_thrs: Sequence[float] = (0.5,),
    score_thr: float = 0.7,
) -> Tuple[int, int, Tuple[int, ...]]:
    """Keep the confident boxes and match them to the ground truth.

    Args:
        pred_boxes: Shape (P, 4), xyxy. None means no box.
        pred_scores: Shape (P,). None means no box.
        gt_boxes: Shape (G, 4), xyxy. Empty for a no-target sample.
        iou_thrs (Sequence[float]): GIoU thresholds of the matching.
        score_thr (float): Boxes with ``score >= score_thr`` are kept.

    Returns:
        tuple: ``(num_kept, num_gt, tps)`` with one TP count per threshold.
    """
    boxes = to_box_tensor(pred_boxes)
    if pred_scores is None:
        scores = torch.zeros(0)
    else:
        scores = torch.as_tensor(
            to_numpy(pred_scores), dtype=torch.float32
        ).reshape(-1)
    if scores.numel() != boxes.shape[0]:
        raise ValueError(
            f'{boxes.shape[0]} predicted boxes but {scores.numel()} scores'
        )
    kept = boxes[scores >= score_thr]
    gts = to_box_tensor(gt_boxes)
    if kept.shape[0] == 0 or gts.shape[0] == 0:
        return kept.shape[0], gts.shape[0], tuple(0 for _ in iou_thrs)
    giou = box_overlaps(kept, gts, mode='giou').numpy()
    tps = tuple(greedy_match_count(giou, thr) for thr in iou_thrs)
    return kept.shape[0], gts.shape[0], tps


def grec_f1(gt_no_target: bool, num_kept: int, num_gt: int, tp: int) -> float:
    """The F1 score of one sample.

    A target sample with no ground-truth box and no kept box (possible only
    with inconsistent annotations) scores 1, where the official code would
    divide by zero.

    Example:
        >>> grec_f1(False, num_kept=3, num_gt=2, tp=2)  # 4 / (4 + 1 + 0)
        0.8
    """
    if gt_no_target:
        return 1.0 if num_kept == 0 else 0.0
    denominator = 2 * tp + (num_kept - tp) + (num_gt - tp)
    return 2.0 * tp / denominator if denominator > 0 else 1.0


def compute_grec_metrics(
    records: Sequence[Sequence[int]],
    iou_thrs: Sequence[float] = (0.5,),
    f1_thr: float = 1.0,
) -> Dict[str, float]:
    """F1score@thr, N-acc and T-acc from per-sample records.

    Args:
        records (Sequence): Records ``(gt_no_target, num_kept, num_gt,
            tp@thr...)``, one TP count per entry of ``iou_thrs``.
        iou_thrs (Sequence[float]): The thresholds the TPs were counted at.
        f1_thr (float): A sample is correct when its F1 is ``>= f1_thr``.

    Returns:
        dict[str, float]: In percent. ``F1score@thr`` is the fraction of
        correct samples; "predicted target" for N-acc/T-acc means at least
        one kept box. An empty denominator gives NaN.
    """
    results: Dict[str, float] = {}
    correct = [0] * len(iou_thrs)
    tp_nt = fn_nt = fp_nt = tn_nt = 0
    for rec in records:
        gt_nt, num_kept, num_gt = bool(rec[0]), int(rec[1]), int(rec[2])
        for i, tp in enumerate(rec[3 : 3 + len(iou_thrs)]):
            if grec_f1(gt_nt, num_kept, num_gt, int(tp)) >= f1_thr:
                correct[i] += 1
        if gt_nt:
            tp_nt += num_kept == 0
            fn_nt += num_kept > 0
        else:
            tn_nt += num_kept > 0
            fp_nt += num_kept == 0
    for thr, num_correct in zip(iou_thrs, correct):
        results[f'F1score@{thr:g}'] = percent(num_correct, len(records))
    results['N_acc'] = percent(tp_nt, tp_nt + fn_nt)
    results['T_acc'] = percent(tn_nt, tn_nt + fp_nt)
    return results
