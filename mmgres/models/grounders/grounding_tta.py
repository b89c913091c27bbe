# Copyright (c) mmgres contributors. All rights reserved.
"""Test-time augmentation for the grounders (mmdet's ``--tta``)."""

from typing import List, Optional

import torch
from mmcv.ops import nms
from mmdet.structures.bbox import bbox_flip
from mmengine.model import BaseTTAModel
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmgres.models.utils.output_frame import frame_shape
from mmgres.registry import MODELS
from mmgres.utils import SampleList

from .base_grounder import (
    RAW_PRED_FIELDS,
    apply_no_target_contract,
    raw_prediction,
)

_FLIP_DIMS = {'horizontal': (-1,), 'vertical': (-2,), 'diagonal': (-2, -1)}

#: IoU above which the NMS that merges the views' instances drops the
#: lower-scoring one (mask IoU; box IoU for box-only instances). Ours: no
#: paper of the four models tests with augmentation; 0.5 as the ``nms`` of
#: mmdet's ``DetTTAModel`` configs.
NMS_IOU_THR = 0.5


def _unflip_masks(masks: Tensor, direction: Optional[str]) -> Tensor:
    """Undo a flip of (..., H, W) masks; ``direction`` None: no flip."""
    if direction is None:
        return masks
    if direction not in _FLIP_DIMS:
        raise ValueError(f'Unknown flip direction {direction!r}')
    return masks.flip(_FLIP_DIMS[direction])


def mask_nms(masks: Tensor, scores: Tensor, iou_thr: float) -> Tensor:
    """Greedy NMS on binary masks.

    Args:
        masks (Tensor): (N, H, W) bool.
        scores (Tensor): (N,).
        iou_thr (float): A mask whose IoU with a kept, higher-scoring mask
            exceeds this is dropped.

    Returns:
        Tensor: Indices of the kept masks, by descending score.
    """
    order = scores.argsort(descending=True)
    flat = masks[order].flatten(1).float()
    inter = flat @ flat.T
    area = flat.sum(1)
    iou = inter / (area[:, None] + area[None] - inter).clamp(min=1.0)
    keep: List[int] = []
    for i in range(len(order)):
        if all(iou[i, j] <= iou_thr for j in keep):
            keep.append(i)
    return order[torch.tensor(keep, dtype=torch.long)]


@MODELS.register_module()
class GroundingTTAModel(BaseTTAModel):
    """Merges a grounder's predictions over flipped views of a sample.

    Used as in mmdet: ``tools/test.py CONFIG CKPT --tta`` wraps
    ``cfg.model`` in ``cfg.tta_model`` and tests with ``cfg.tta_pipeline``,
    whose ``TestTimeAug`` gives each sample several views (e.g. with and
    without mmgres' ``RandomFlip``, which also swaps "left" and "right" in
    the expression). The views run one after another; per sample:

    - the merged masks (``pred_sem_seg``) are flipped back and vote: a
      pixel is on when at least ``mask_vote`` of the views have it on
      (0.5 with two views: either view; 1.0: every view);
    - the no-target scores are averaged (``pred_nt_score``); the decision
      ``pred_no_target`` is, with ``nt_thr`` None (the default), a vote of
      the views' own decisions (no target when at least ``nt_vote`` of
      them say so), which keeps each model's rule (IGVG: no query kept;
      RaAM: no target only in GRES mode); with ``nt_thr`` set, it is the
      mean score above ``nt_thr``, for models whose rule is that
      threshold on that score (InstAlign, GSVA);
    - the instances of all views are flipped back (masks and boxes) and
      merged by mask NMS (box NMS for box-only instances) at IoU
      :data:`NMS_IOU_THR`;
    - everything else (ground truth, metainfo, GSVA's answer) comes from
      the view without a flip, or the first view when all are flipped.

    The views' predictions must share one frame: with the grounder's
    ``test_cfg.rescale`` False (masks in the ``img_shape`` frame) the views
    must have one ``img_shape`` (flips, not several scales); otherwise a
    clear error is raised. Boxes are flipped back in their own frame
    (``test_cfg.rescale_boxes``).

    The views' masks and instances are the model's own
    (``pred_sem_seg_raw`` / ``pred_instances_raw`` where a view said "no
    target"), and the merged prediction follows the same no-target
    contract as a single view (see :func:`apply_no_target_contract`).

    Args:
        module (dict | nn.Module): The grounder.
        nt_thr (float, optional): Threshold on the mean no-target score;
            None: vote (``nt_vote``).
        nt_vote (float): Fraction of views, in (0, 1], that must decide
            "no target" when ``nt_thr`` is None.
        mask_vote (float): Fraction of views, in (0, 1], that must have a
            pixel in their merged mask.
        data_preprocessor (dict, optional): See ``BaseTTAModel``.
    """

    def __init__(
        self,
        module,
        nt_thr: Optional[float] = None,
        nt_vote: float = 0.5,
        mask_vote: float = 0.5,
        data_preprocessor=None,
    ) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if not 0.0 < mask_vote <= 1.0:
            raise ValueError(f'mask_vote must be in (0, 1], got {mask_vote}')
        if not 0.0 < nt_vote <= 1.0:
            raise ValueError(f'nt_vote must be in (0, 1], got {nt_vote}')
        if nt_thr is not None and not 0.0 <= nt_thr <= 1.0:
            raise ValueError(f'nt_thr must be in [0, 1], got {nt_thr}')
        self.nt_thr = nt_thr
        self.nt_vote = nt_vote
        self.mask_vote = mask_vote

    def _boxes_rescaled(self) -> bool:
        """Whether the grounder gives boxes in the original frame (its
        ``test_cfg``; True for a module without ``output_frames``)."""
        frames = getattr(self.module, 'output_frames', None)
        return True if frames is None else frames()[1]

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Merge each sample's views (see the class docstring).

        Args:
            data_samples_list (list[list[DetDataSample]]): Per sample, its
                predicted views.

        Returns:
            list[DetDataSample]: One merged prediction per sample.
        """
        return [self._merge_views(list(views)) for views in data_samples_list]

    def _merge_views(self, views: SampleList):
        if not views:
            raise ValueError('GroundingTTAModel got a sample with no views')
        directions = [
            v.metainfo.get('flip_direction')
            if v.metainfo.get('flip', False)
            else None
            for v in views
        ]
        base = next(
            (v for v, d in zip(views, directions) if d is None), views[0]
        )
        merged = base.clone()
        for field, raw in RAW_PRED_FIELDS.items():
            if raw in merged:  # merge the model's own prediction
                setattr(merged, field, merged.get(raw))
                delattr(merged, raw)

        view_masks = [raw_prediction(v, 'pred_sem_seg').data[0] for v in views]
        shapes = {tuple(m.shape) for m in view_masks}
        if len(shapes) > 1:
            raise ValueError(
                'GroundingTTAModel: the views of a sample predicted masks of '
                f'different sizes {sorted(shapes)}; views of several scales '
                'vote only in the original frame, so set the '
                "grounder's test_cfg.rescale=True (or drop the scales)."
            )
        votes = torch.stack(
            [
                _unflip_masks(m, d).float()
                for m, d in zip(view_masks, directions)
            ]
        ).mean(0)
        merged.pred_sem_seg = PixelData(
            data=(votes >= self.mask_vote - 1e-6)[None]
        )

        nt_score = sum(float(v.pred_nt_score) for v in views) / len(views)
        merged.pred_nt_score = nt_score
        if self.nt_thr is None:
            said = sum(bool(v.pred_no_target) for v in views) / len(views)
            merged.pred_no_target = said >= self.nt_vote - 1e-6
        else:
            merged.pred_no_target = nt_score > self.nt_thr

        if all('pred_instances' in v for v in views):
            merged.pred_instances = self._merge_instances(views, directions)
        return apply_no_target_contract(merged)

    def _merge_instances(self, views, directions) -> InstanceData:
        boxes_rescaled = self._boxes_rescaled()
        masks, scores, labels, boxes = [], [], [], []
        for v, d in zip(views, directions):
            inst = raw_prediction(v, 'pred_instances')
            if len(inst) == 0:
                continue
            scores.append(inst.scores)
            labels.append(inst.labels)
            if 'masks' in inst:
                masks.append(_unflip_masks(inst.masks.bool(), d))
            if d is None:
                boxes.append(inst.bboxes)
            else:
                # flipped in the frame the boxes are given in
                h, w = frame_shape(v.metainfo, boxes_rescaled)
                boxes.append(bbox_flip(inst.bboxes, (h, w), d))
        if not scores:  # no view kept an instance
            return raw_prediction(views[0], 'pred_instances').clone()
        scores = torch.cat(scores)
        labels = torch.cat(labels)
        boxes = torch.cat(boxes)
        with_masks = sum(len(m) for m in masks) == len(scores)
        if with_masks:
            masks = torch.cat(masks)
            keep = mask_nms(masks, scores, NMS_IOU_THR)
            return InstanceData(
                masks=masks[keep],
                bboxes=boxes[keep],
                scores=scores[keep],
                labels=labels[keep],
            )
        _, keep = nms(boxes.float(), scores.float(), NMS_IOU_THR)
        return InstanceData(
            bboxes=boxes[keep], scores=scores[keep], labels=labels[keep]
        )
