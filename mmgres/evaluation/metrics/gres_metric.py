# Copyright (c) mmgres contributors. All rights reserved.
"""GRES metric: gIoU, cIoU, N-acc, T-acc, Pr@thr (ReLA's evaluator)."""

from typing import Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.gres import check_nt_rule, compute_gres_metrics
from .base_mask_metric import BaseMaskMetric
from .sample_fields import read_gt_no_target


@METRICS.register_module()
class GRESMetric(BaseMaskMetric):
    """Generalized referring expression segmentation metric.

    Follows the official gRefCOCO/ReLA ``ReferEvaluator``; see
    :mod:`mmgres.evaluation.functional.gres` for the per-sample table. In
    short, with ``U = |pred ∪ gt|``:

    - no-target GT, predicted no target (TP): IoU 1, adds nothing;
    - no-target GT, predicted target (FN): IoU 0, ``ΣU += |pred|``;
    - target GT, predicted no target (FP): IoU 0, ``ΣI += 0``,
      ``ΣU += U`` (the predicted mask is not cleared);
    - target GT, predicted target (TN): IoU ``I/U``, ``ΣI += I``,
      ``ΣU += U``.

    Reported (in percent, with the prefix, e.g. ``gres/cIoU``): ``gIoU``
    (mean sample IoU over all samples), ``cIoU`` (ΣI/ΣU), ``N_acc``
    (TP/(TP+FN)), ``T_acc`` (TN/(TN+FP)) and ``Pr@0.7/0.8/0.9`` (target
    samples with IoU >= thr). A ratio without samples is NaN.

    ``nt_rule='gsva_release'`` scores the FP row as the GSVA release does
    (``solver.py: eval_gres``): IoU ``I/U``, ``ΣI += I``, ``ΣU += U``,
    with the model's own mask (``pred_sem_seg_raw`` when the model emptied
    ``pred_sem_seg``); the sample still counts as FP in T_acc.
    ``fn_union=False`` drops the FN row's ``|pred|`` from ΣU, as that
    release does on every dataset but gRefCOCO.

    ``process`` reduces each sample to five integers at once; no mask is
    kept in ``self.results``.

    Args:
        pr_thrs (Sequence[float]): IoU thresholds of ``Pr@``.
        nt_source (str): ``'classifier'`` (default, ReLA), ``'score'``
            (InstanceVG) or ``'empty_mask'`` (LISA); see
            :class:`BaseMaskMetric`.
        score_thr (float): Score threshold of ``'score'``. Defaults to 0.7.
        min_pixels (int): Pixel threshold of ``'empty_mask'``. Defaults
            to 50.
        resolution (str): ``'original'`` (default) or ``'resized'`` (the
            network input frame ``img_shape``, as ReLA and InstanceVG
            score); see :class:`BaseMaskMetric` for how the ground truth
            gets there.
        nt_rule (str): How a target sample predicted "no target" is
            scored: ``'rela'`` (default; IoU 0, its intersection dropped,
            its union kept) or ``'gsva_release'`` (scored by its mask).
        fn_union (bool): Whether a no-target sample predicted as a target
            adds its predicted pixels to ΣU. Defaults to True (ReLA, and
            the GSVA release on gRefCOCO).
        collect_device (str): See ``mmengine.evaluator.BaseMetric``.
        prefix (str, optional): Defaults to ``'gres'``.
        collect_dir (str, optional): See ``BaseMetric``.

    Example:
        >>> metric = GRESMetric()
        >>> # in a config: val_evaluator = dict(type='GRESMetric')
        >>> # the GSVA release on gRefCOCO:
        >>> metric = GRESMetric(nt_source='classifier',
        ...                     nt_rule='gsva_release')
    """

    default_prefix: Optional[str] = 'gres'

    def __init__(
        self,
        pr_thrs: Sequence[float] = (0.7, 0.8, 0.9),
        nt_source: str = 'classifier',
        score_thr: float = 0.7,
        min_pixels: int = 50,
        resolution: str = 'original',
        nt_rule: str = 'rela',
        fn_union: bool = True,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            nt_source=nt_source,
            score_thr=score_thr,
            min_pixels=min_pixels,
            resolution=resolution,
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir,
        )
        self.pr_thrs = tuple(pr_thrs)
        self.nt_rule = check_nt_rule(nt_rule)
        self.fn_union = bool(fn_union)

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(gt_nt, pred_nt, I, |pred|, |gt|)``.

        Args:
            data_batch (dict, optional): Unused.
            data_samples (Sequence): ``DetDataSample``s or their dicts.
        """
        for sample in data_samples:
            gt_nt = read_gt_no_target(sample, self._owner)
            inter, pred_px, gt_px = self.mask_counts(sample, gt_nt)
            pred_nt = self.pred_no_target(sample, pred_px)
            self.results.append(
                (int(gt_nt), int(pred_nt), inter, pred_px, gt_px)
            )

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the totals from the collected records."""
        metrics = compute_gres_metrics(
            results, self.pr_thrs, self.nt_rule, self.fn_union
        )
        MMLogger.get_current_instance().info(
            f'{self._owner} on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
