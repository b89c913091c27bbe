# Copyright (c) mmgres contributors. All rights reserved.
"""CoverAcc: the share of targets covered by selected reference points."""

from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.cover_acc import compute_cover_acc, count_covered
from .sample_fields import get_field, require_field, sample_name


@METRICS.register_module()
class CoverAcc(BaseMetric):
    """CoverAcc, IGVG's utility metric for its reference-point selection.

    The mean over samples of covered targets / all targets, a target being
    covered when at least one selected reference point lies inside (edges
    included) its ground-truth box. Samples without a target box
    (no-target sentences) are skipped. Reported in percent as
    ``CoverAcc``.

    Args:
        points_key (str): Dotted path of the selected points, shape (K, 2),
            ``(x, y)`` in the original image frame. Defaults to
            ``'pred_instances.points'``; ``'pred_points'`` is the other
            common place.
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'cover'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'cover'

    def __init__(
        self,
        points_key: str = 'pred_instances.points',
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir,
        )
        self.points_key = points_key

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(num_covered, num_targets)``."""
        owner = type(self).__name__
        for sample in data_samples:
            gt_boxes = get_field(sample, 'gt_instances.bboxes')
            if gt_boxes is None and not get_field(sample, 'no_target', False):
                raise KeyError(
                    f'{owner}: the sample ({sample_name(sample)}) '
                    'has no `gt_instances.bboxes`.'
                )
            points = require_field(sample, self.points_key, owner)
            try:
                self.results.append(count_covered(points, gt_boxes))
            except ValueError as err:
                raise ValueError(
                    f'{owner}: sample ({sample_name(sample)}): {err}'
                ) from err

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute CoverAcc from the collected counts."""
        metrics = compute_cover_acc(results)
        MMLogger.get_current_instance().info(
            f'CoverAcc on {len(results)} samples: {metrics["CoverAcc"]:.2f}'
        )
        return metrics
