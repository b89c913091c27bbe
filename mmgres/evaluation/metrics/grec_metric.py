# Copyright (c) mmgres contributors. All rights reserved.
"""GREC metric: F1score, N-acc, T-acc (gRefCOCO's ``RefExpEvaluator``)."""

from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.grec import compute_grec_metrics, grec_sample
from .sample_fields import (
    get_field,
    read_gt_no_target,
    require_field,
    sample_name,
)


@METRICS.register_module()
class GRECMetric(BaseMetric):
    """Generalized referring expression comprehension metric.

    Follows the official gRefCOCO ``RefExpEvaluator`` (see
    :mod:`mmgres.evaluation.functional.grec`): per sentence, predicted boxes
    with ``score >= score_thr`` are kept and matched greedily, on
    generalized IoU, to **all** ground-truth boxes; F1 = 2TP/(2TP+FP+FN);
    a no-target sentence has F1 1 when no box is kept, else 0; a sentence is
    correct when F1 >= ``f1_thr`` (1.0).

    Unlike mmdet 3.3's ``gRefCOCOMetric`` (which loads only the first
    ground-truth box, matches on plain IoU and divides by unguarded
    counts), a prediction that finds every target of a multi-target
    sentence is correct here.

    Reported, in percent: ``F1score@thr`` for each entry of ``iou_thrs``
    (the paper's Pr(F1=1, IoU>=0.5) is ``F1score@0.5``; the IGVG table uses
    0.7), ``N_acc`` and ``T_acc``, where "predicted target" means at least
    one kept box.

    Reads ``no_target`` (metainfo), ``gt_instances.bboxes`` (xyxy, original
    frame) and ``pred_instances.bboxes``/``scores``; ``pred_instances``
    without boxes counts as no prediction.

    Args:
        iou_thrs (Sequence[float]): GIoU thresholds. Defaults to (0.5,).
        score_thr (float): Keep boxes with score >= this. Defaults to 0.7.
        f1_thr (float): A sample is correct when F1 >= this. Defaults
            to 1.0.
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'grec'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'grec'

    def __init__(
        self,
        iou_thrs: Sequence[float] = (0.5,),
        score_thr: float = 0.7,
        f1_thr: float = 1.0,
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir,
        )
        if isinstance(iou_thrs, (int, float)):
            iou_thrs = (iou_thrs,)
        self.iou_thrs = tuple(float(t) for t in iou_thrs)
        self.score_thr = score_thr
        self.f1_thr = f1_thr

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(gt_nt, #kept, #gt, TP@thr...)``.

        Args:
            data_batch (dict, optional): Unused.
            data_samples (Sequence): ``DetDataSample``s or their dicts.
        """
        owner = type(self).__name__
        for sample in data_samples:
            gt_nt = read_gt_no_target(sample, owner)
            pred = require_field(sample, 'pred_instances', owner)
            pred_boxes = get_field(pred, 'bboxes')
            pred_scores = get_field(pred, 'scores')
            if pred_boxes is not None and pred_scores is None:
                raise KeyError(
                    f'{owner}: the sample ({sample_name(sample)})'
                    ' has no `pred_instances.scores`.'
                )
            if gt_nt:
                gt_boxes = None
            else:
                gt_boxes = require_field(
                    sample,
                    'gt_instances.bboxes',
                    owner,
                    'The test pipeline must load the annotations.',
                )
            try:
                num_kept, num_gt, tps = grec_sample(
                    pred_boxes,
                    pred_scores,
                    gt_boxes,
                    self.iou_thrs,
                    self.score_thr,
                )
            except ValueError as err:
                raise ValueError(
                    f'{owner}: sample ({sample_name(sample)}): {err}'
                ) from err
            self.results.append((int(gt_nt), num_kept, num_gt, *tps))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the totals from the collected records."""
        metrics = compute_grec_metrics(results, self.iou_thrs, self.f1_thr)
        MMLogger.get_current_instance().info(
            f'GRECMetric on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
