# Copyright (c) mmgres contributors. All rights reserved.
"""The shared base of the mask metrics: resolution and no-target rules."""

from typing import Any, Optional, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric

from ..functional.mask_ops import mask_counts, resize_mask_nearest
from ..functional.no_target import check_nt_source, decide_no_target
from .sample_fields import (
    get_field,
    read_gt_mask,
    read_pred_mask,
    require_field,
    sample_name,
)

RESOLUTIONS = ('original', 'resized')


class BaseMaskMetric(BaseMetric):
    """Reduce a sample's masks to pixel counts, and decide "no target".

    Subclasses call :meth:`mask_counts` and :meth:`pred_no_target` in their
    ``process`` and keep only the resulting integers in ``self.results``:
    masks are never stored, so the results are small and cheap to gather
    across ranks.

    Args:
        nt_source (str | None): Where the no-target decision comes from:
            ``'classifier'`` (ReLA, official: ``pred_no_target``, which
            must be present), ``'score'`` (InstanceVG: no
            ``pred_instances.scores`` above ``score_thr``) or
            ``'empty_mask'`` (LISA: fewer than ``min_pixels`` predicted
            pixels). None for metrics without a no-target notion.
        score_thr (float): See ``'score'``. Defaults to 0.7.
        min_pixels (int): See ``'empty_mask'``. Defaults to 50.
        resolution (str): The frame the masks are compared in.
            ``'original'`` (default; GSVA's release): the original image,
            where the model resizes its prediction back and the test
            pipeline loads the ground truth. ``'resized'``: the network
            input ``img_shape`` (ReLA, InstanceVG). There, a mask that
            already has ``img_shape`` is used as it is, and any other is
            resized with nearest interpolation (mmcv/cv2, as mmdet's
            ``BitmapMasks.resize``). So the ground truth follows ReLA when
            loaded by ``LoadReferringAnnotations(mask_frame='resized')``
            (polygons re-rasterised at ``img_shape``) and InstanceVG when
            loaded in the original frame (nearest-resized here).
        collect_device (str): ``'cpu'`` or ``'gpu'``, see ``BaseMetric``.
        prefix (str, optional): Prefix of the metric names.
        collect_dir (str, optional): Shared directory for ``'cpu'``
            collection.
    """

    def __init__(
        self,
        nt_source: Optional[str] = 'classifier',
        score_thr: float = 0.7,
        min_pixels: int = 50,
        resolution: str = 'original',
        collect_device: str = 'cpu',
        prefix: Optional[str] = None,
        collect_dir: Optional[str] = None,
    ) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir,
        )
        if nt_source is not None:
            check_nt_source(nt_source)
        if resolution not in RESOLUTIONS:
            raise ValueError(
                f'resolution must be one of {RESOLUTIONS}, got {resolution!r}'
            )
        self.nt_source = nt_source
        self.score_thr = score_thr
        self.min_pixels = min_pixels
        self.resolution = resolution

    @property
    def _owner(self) -> str:
        return type(self).__name__

    def mask_counts(
        self, sample: Any, gt_may_be_missing: bool = False
    ) -> Tuple[int, int, int]:
        """``(intersection, pred_pixels, gt_pixels)`` of one sample.

        Args:
            sample: A data sample or its ``to_dict()``.
            gt_may_be_missing (bool): A missing ground-truth mask counts as
                empty (no-target samples) instead of raising.
        """
        pred = read_pred_mask(sample, self._owner)
        gt = read_gt_mask(sample, self._owner, gt_may_be_missing)
        if self.resolution == 'resized':
            size = require_field(
                sample,
                'img_shape',
                self._owner,
                "resolution='resized' needs `img_shape`.",
            )
            pred = resize_mask_nearest(pred, size[:2])
            if gt is not None:
                gt = resize_mask_nearest(gt, size[:2])
        if gt is None:
            return 0, int(np.count_nonzero(pred)), 0
        try:
            return mask_counts(pred, gt)
        except ValueError as err:
            raise ValueError(
                f'{self._owner}: sample ({sample_name(sample)}): {err}. With '
                "resolution='original' the prediction must be resized back "
                'to `ori_shape` by the model, and the ground truth loaded '
                "with LoadReferringAnnotations(mask_frame='original'); "
                "masks in the `img_shape` frame need resolution='resized'."
            ) from err

    def pred_no_target(self, sample: Any, pred_pixels: int) -> bool:
        """The prediction's no-target decision under ``self.nt_source``."""
        source = self.nt_source
        try:
            return decide_no_target(
                source,
                pred_no_target=get_field(sample, 'pred_no_target')
                if source == 'classifier'
                else None,
                scores=get_field(sample, 'pred_instances.scores')
                if source == 'score'
                else None,
                pred_pixels=pred_pixels,
                score_thr=self.score_thr,
                min_pixels=self.min_pixels,
            )
        except ValueError as err:
            raise ValueError(
                f'{self._owner}: sample ({sample_name(sample)}): {err}'
            ) from err
