# Copyright (c) mmgres contributors. All rights reserved.
"""R-RefCOCO metric: mIoU, mRR, rIoU grouped by ref (RefSegformer)."""

from typing import Any, Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from mmgres.registry import METRICS

from ..functional.rrefcoco import compute_rrefcoco_metrics
from .base_mask_metric import BaseMaskMetric
from .sample_fields import get_field, require_field, sample_name


@METRICS.register_module()
class RRefCOCOMetric(BaseMaskMetric):
    """R-RefCOCO / R-RefCOCO+ / R-RefCOCOg metric (RefSegformer).

    Sentences are grouped by ``ref_id`` (metainfo); ``exist`` (metainfo)
    False marks a negative sentence. See
    :mod:`mmgres.evaluation.functional.rrefcoco`:

    - ``mIoU``: mean over refs of the mean IoU of its positive sentences;
    - ``mRR``: mean over refs of TN/(TN+FP) over its negative sentences,
      refs without a negative being skipped;
    - ``rIoU``: mean over refs of ΣI_pos / (ΣU_pos + predicted pixels on
      its negatives).

    All in percent. The default decision is RefSegformer's: any predicted
    pixel makes a prediction non-empty (``nt_source='empty_mask',
    min_pixels=1``); the other rules of :class:`BaseMaskMetric` are options.

    Without ``exist`` in the metainfo, ``not no_target`` is used.

    Args:
        nt_source (str): Defaults to ``'empty_mask'`` (RefSegformer).
        score_thr (float): For ``'score'``. Defaults to 0.7.
        min_pixels (int): For ``'empty_mask'``. Defaults to 1.
        resolution (str): ``'original'`` (default) or ``'resized'``.
        collect_device (str): See ``BaseMetric``.
        prefix (str, optional): Defaults to ``'rrefcoco'``.
        collect_dir (str, optional): See ``BaseMetric``.
    """

    default_prefix: Optional[str] = 'rrefcoco'

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

    def _exist(self, sample: Any) -> bool:
        exist = get_field(sample, 'exist')
        if exist is not None:
            return bool(exist)
        no_target = get_field(sample, 'no_target')
        if no_target is not None:
            return not bool(no_target)
        raise KeyError(
            f'{self._owner}: the sample ({sample_name(sample)}) '
            'has neither `exist` nor `no_target` in its '
            'metainfo.'
        )

    def process(
        self, data_batch: Optional[dict], data_samples: Sequence
    ) -> None:
        """Reduce each sample to ``(ref_id, exist, pred_empty, I, |pred|,
        |gt|)``."""
        for sample in data_samples:
            ref_id = require_field(sample, 'ref_id', self._owner)
            exist = self._exist(sample)
            inter, pred_px, gt_px = self.mask_counts(sample, not exist)
            pred_empty = self.pred_no_target(sample, pred_px)
            self.results.append(
                (ref_id, int(exist), int(pred_empty), inter, pred_px, gt_px)
            )

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the totals from the collected records."""
        metrics = compute_rrefcoco_metrics(results)
        MMLogger.get_current_instance().info(
            f'{self._owner} on {len(results)} samples: '
            + ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        )
        return metrics
