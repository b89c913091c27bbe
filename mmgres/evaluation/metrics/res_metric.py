# Copyright (c) mmgres contributors. All rights reserved.
"""Classic RES metric: oIoU, mIoU, Pr@0.5..0.9."""

from typing import Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.res import compute_res_metrics
from .base_mask_metric import BaseMaskMetric


@METRICS.register_module()
class RESMetric(BaseMaskMetric):
    """Referring expression segmentation metric (RefCOCO/+/g).

    ``oIoU`` (ΣI/ΣU, the cIoU of GRES), ``mIoU`` (mean sample IoU) and
    ``Pr@thr`` (samples with IoU >= thr, as LAVT counts), in percent. There
    is no no-target notion: the predicted mask is compared as it is.

    Args:
        pr_thrs (Sequence[float]): Defaults to (0.5, 0.6, 0.7, 0.8, 0.9).
        resolution (str): ``'original'`` (default) or ``'resized'`` (both
            masks resized with nearest to ``img_shape``, as ReLA did).
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'res'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'res'

    def __init__(
        self,
        pr_thrs: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
        resolution: str = 'original',
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            nt_source=None,
            resolution=resolution,
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir,
        )
        self.pr_thrs = tuple(pr_thrs)

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(I, |pred|, |gt|)``."""
        for sample in data_samples:
            self.results.append(self.mask_counts(sample))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the totals from the collected records."""
        metrics = compute_res_metrics(results, self.pr_thrs)
        MMLogger.get_current_instance().info(
            f'{self._owner} on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
