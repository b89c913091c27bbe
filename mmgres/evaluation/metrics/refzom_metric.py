# Copyright (c) mmgres contributors. All rights reserved.
"""Ref-ZOM metric: oIoU and mIoU over non-empty samples, Acc over empty."""

from typing import Any, Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.refzom import compute_refzom_metrics
from .base_mask_metric import BaseMaskMetric
from .sample_fields import get_field, sample_name


@METRICS.register_module()
class RefZOMMetric(BaseMaskMetric):
    """Ref-ZOM metric, as DMMI evaluates it.

    - ``oIoU = ΣI/ΣU`` and ``mIoU`` (mean sample IoU) over non-empty
      samples only;
    - ``Acc``: the fraction of empty (``source == 'zero'``) samples that are
      predicted empty.

    All in percent. A sample is empty when its metainfo says
    ``no_target=True``, or, without that key, ``source == 'zero'``.

    The default decision is DMMI's: a prediction is empty when it has no
    foreground pixel (``nt_source='empty_mask', min_pixels=1``). The other
    rules of :class:`BaseMaskMetric` are options; a non-empty sample
    predicted empty then gets ``I = 0`` with its union kept (ReLA's rule).

    Args:
        nt_source (str): Defaults to ``'empty_mask'`` (DMMI).
        score_thr (float): For ``'score'``. Defaults to 0.7.
        min_pixels (int): For ``'empty_mask'``. Defaults to 1 (DMMI's "zero
            foreground pixels").
        resolution (str): ``'original'`` (default) or ``'resized'``.
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'refzom'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'refzom'

    def __init__(
        self,
        nt_source: str = 'empty_mask',
        score_thr: float = 0.7,
        min_pixels: int = 1,
        resolution: str = 'original',
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

    def _gt_empty(self, sample: Any) -> bool:
        no_target = get_field(sample, 'no_target')
        if no_target is not None:
            return bool(no_target)
        source = get_field(sample, 'source')
        if source is not None:
            return source == 'zero'
        raise KeyError(
            f'{self._owner}: the sample ({sample_name(sample)}) '
            'has neither `no_target` nor `source` in its '
            'metainfo.'
        )

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(empty, pred_empty, I, |pred|, |gt|)``."""
        for sample in data_samples:
            gt_empty = self._gt_empty(sample)
            inter, pred_px, gt_px = self.mask_counts(sample, gt_empty)
            pred_empty = self.pred_no_target(sample, pred_px)
            self.results.append(
                (int(gt_empty), int(pred_empty), inter, pred_px, gt_px)
            )

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the totals from the collected records."""
        metrics = compute_refzom_metrics(results)
        MMLogger.get_current_instance().info(
            f'{self._owner} on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
