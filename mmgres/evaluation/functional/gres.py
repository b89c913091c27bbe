# Copyright (c) mmgres contributors. All rights reserved.
"""GRES arithmetic: the official ReLA ``ReferEvaluator`` rules.

A sample is reduced to one record of five integers::

    (gt_no_target, pred_no_target, intersection, pred_pixels, gt_pixels)

and the per-sample terms follow this table (``U = |pred ∪ gt|``):

=============  =============  ==========  =========  ==================
ground truth   prediction     sample IoU  adds to ΣI adds to ΣU
=============  =============  ==========  =========  ==================
no target      no target (TP) 1           0          0
no target      target (FN)    0           0          predicted pixels
target         no target (FP) 0           0          U (mask kept)
target         target (TN)    I/U, 0 if   I          U
                              U = 0
=============  =============  ==========  =========  ==================

In the FP row ReLA sets ``I = 0`` but keeps the union of the predicted mask
and the ground truth: the mask is not cleared.

Two options change the table to the GSVA release's evaluator
(``solver.py: eval_gres`` in LeapLabTHU/GSVA):

- ``nt_rule='gsva_release'``: a target sample predicted "no target" (the
  model emitted ``[REJ]``) is still scored by its mask, like a target
  prediction: IoU ``I/U``, ``ΣI += I``, ``ΣU += U``. It still counts as FP
  in ``T_acc``.
- ``fn_union=False``: a no-target sample predicted as a target adds
  nothing to ΣU. The release adds that union only when the dataset is
  gRefCOCO (``if is_grefcoco``), so its Ref-ZOM numbers drop it.
"""

from typing import Dict, Sequence, Tuple

import numpy as np

from .ratio import percent

#: How a target sample predicted "no target" (FP) is scored: ``'rela'``
#: (IoU 0, ``I`` dropped, ``U`` kept) or ``'gsva_release'`` (scored by its
#: mask as if predicted a target).
NT_RULES = ('rela', 'gsva_release')


def check_nt_rule(nt_rule: str) -> str:
    """Return ``nt_rule`` or raise a ``ValueError`` naming the choices."""
    if nt_rule not in NT_RULES:
        raise ValueError(f'nt_rule must be one of {NT_RULES}, got {nt_rule!r}')
    return nt_rule


GRES_RECORD_FIELDS = (
    'gt_no_target',
    'pred_no_target',
    'intersection',
    'pred_pixels',
    'gt_pixels',
)


def gres_sample(
    gt_no_target: bool,
    pred_no_target: bool,
    intersection: int,
    pred_pixels: int,
    gt_pixels: int,
    nt_rule: str = 'rela',
    fn_union: bool = True,
) -> Tuple[float, int, int]:
    """The per-sample IoU and the terms one sample adds to ΣI and ΣU.

    Args:
        gt_no_target (bool): The expression refers to nothing.
        pred_no_target (bool): The model says it refers to nothing.
        intersection (int): ``|pred ∩ gt|`` of the masks.
        pred_pixels (int): ``|pred|``.
        gt_pixels (int): ``|gt|``.
        nt_rule (str): ``'rela'`` (default) or ``'gsva_release'``; see the
            module docstring.
        fn_union (bool): Add ``|pred|`` of a no-target sample predicted as
            a target to ΣU. Defaults to True (ReLA).

    Returns:
        tuple[float, int, int]: ``(iou, add_to_I, add_to_U)``.

    Example:
        A target sample predicted "no target" while its mask overlaps the
        ground truth: the overlap is dropped, the union is kept.

        >>> gres_sample(False, True, intersection=3, pred_pixels=4,
        ...             gt_pixels=5)
        (0.0, 0, 6)
        >>> gres_sample(False, True, 3, 4, 5, nt_rule='gsva_release')
        (0.5, 3, 6)
    """
    check_nt_rule(nt_rule)
    union = pred_pixels + gt_pixels - intersection
    if gt_no_target:
        if pred_no_target:
            return 1.0, 0, 0
        return 0.0, 0, pred_pixels if fn_union else 0
    if pred_no_target and nt_rule == 'rela':
        return 0.0, 0, union
    iou = intersection / union if union > 0 else 0.0
    return iou, intersection, union


def compute_gres_metrics(
    records: Sequence[Sequence[int]],
    pr_thrs: Sequence[float] = (0.7, 0.8, 0.9),
    nt_rule: str = 'rela',
    fn_union: bool = True,
) -> Dict[str, float]:
    """gIoU, cIoU, N-acc, T-acc and Pr@thr from per-sample records.

    Args:
        records (Sequence): N records laid out as ``GRES_RECORD_FIELDS``.
        pr_thrs (Sequence[float]): IoU thresholds of the precision; a target
            sample counts when its IoU is ``>= thr``.
        nt_rule (str): ``'rela'`` (default) or ``'gsva_release'``: how a
            target sample predicted "no target" is scored (module
            docstring).
        fn_union (bool): Whether a no-target sample predicted as a target
            adds ``|pred|`` to ΣU. Defaults to True.

    Returns:
        dict[str, float]: All in percent. ``gIoU = 100·ΣIoU/N``,
        ``cIoU = 100·ΣI/ΣU``, ``N_acc = 100·TP/(TP+FN)``,
        ``T_acc = 100·TN/(TN+FP)``, ``Pr@thr`` over target samples only.
        A ratio with an empty denominator is NaN.
    """
    check_nt_rule(nt_rule)
    rec = np.asarray(records, dtype=np.int64).reshape(-1, 5)
    gt_nt = rec[:, 0] != 0
    pred_nt = rec[:, 1] != 0
    inter, pred_px, gt_px = rec[:, 2], rec[:, 3], rec[:, 4]
    union = pred_px + gt_px - inter

    tp = gt_nt & pred_nt
    fn = gt_nt & ~pred_nt
    fp = ~gt_nt & pred_nt
    tn = ~gt_nt & ~pred_nt

    # The target samples whose mask is scored: ReLA scores only those
    # predicted as targets; the GSVA release also those predicted [REJ].
    scored = tn | fp if nt_rule == 'gsva_release' else tn
    add_i = np.where(scored, inter, 0)
    fn_u = pred_px if fn_union else 0
    add_u = np.where(fn, fn_u, np.where(gt_nt, 0, union))
    iou = np.zeros(len(rec), dtype=np.float64)
    valid = scored & (union > 0)
    iou[valid] = inter[valid] / union[valid]
    iou[tp] = 1.0

    results = {
        'gIoU': percent(iou.sum(), len(rec)),
        'cIoU': percent(int(add_i.sum()), int(add_u.sum())),
        'N_acc': percent(int(tp.sum()), int(tp.sum() + fn.sum())),
        'T_acc': percent(int(tn.sum()), int(tn.sum() + fp.sum())),
    }
    target_iou = iou[~gt_nt]
    for thr in pr_thrs:
        results[f'Pr@{thr:g}'] = percent(
            int(np.count_nonzero(target_iou >= thr)), len(target_iou)
        )
    return results
