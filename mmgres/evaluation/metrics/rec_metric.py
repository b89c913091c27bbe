# Copyright (c) mmgres contributors. All rights reserved.
"""Classic REC metric: Prec@0.5 of the top-1 box."""

from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.box_ops import mask_to_box
from ..functional.rec import compute_rec_metrics, top1_box_iou
from .sample_fields import (
    get_field,
    read_pred_mask,
    require_field,
    sample_name,
)


@METRICS.register_module()
class RECMetric(BaseMetric):
    """Referring expression comprehension metric (RefCOCO/+/g).

    ``Prec@thr``: the percentage of samples whose top-1 predicted box (the
    highest ``pred_instances.scores``) has IoU >= thr with the ground-truth
    box (``gt_instances.bboxes``; with several, the best one). A sample
    without a predicted box is a miss.

    With ``mask2bbox=True`` (GSVA, for mask-only models) the box is the
    tight box of the predicted merged mask (``pred_sem_seg``, else the union
    of ``pred_instances.masks``), with mmdet's pixel-edge convention
    (``x2 = last column + 1``); an empty mask is a miss.

    Args:
        iou_thrs (Sequence[float]): Defaults to (0.5,).
        mask2bbox (bool): Derive the box from the predicted mask.
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'rec'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'rec'

    def __init__(
        self,
        iou_thrs: Sequence[float] = (0.5,),
        mask2bbox: bool = False,
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
        self.mask2bbox = mask2bbox

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to the IoU of its top-1 box."""
        owner = type(self).__name__
        for sample in data_samples:
            gt_boxes = require_field(
                sample,
                'gt_instances.bboxes',
                owner,
                'The test pipeline must load the annotations.',
            )
            if self.mask2bbox:
                box = mask_to_box(read_pred_mask(sample, owner))
                iou = 0.0 if box is None else top1_box_iou(box, gt_boxes)
            else:
                pred = require_field(sample, 'pred_instances', owner)
                try:
                    iou = top1_box_iou(
                        get_field(pred, 'bboxes'),
                        gt_boxes,
                        get_field(pred, 'scores'),
                    )
                except ValueError as err:
                    raise ValueError(
                        f'{owner}: sample ({sample_name(sample)}): {err}'
                    ) from err
            self.results.append(iou)

    def compute_metrics(self, results: List[float]) -> Dict[str, float]:
        """Compute the precision from the collected IoUs."""
        metrics = compute_rec_metrics(results, self.iou_thrs)
        MMLogger.get_current_instance().info(
            f'RECMetric on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
