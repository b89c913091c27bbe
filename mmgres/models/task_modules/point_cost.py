# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's point-guided match cost."""

from typing import Optional

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.registry import TASK_UTILS


@TASK_UTILS.register_module()
class PointL1Cost(BaseMatchCost):
    """L1 distance from each query's reference point to each box centre.

    The λ_point term of IGVG's point-guided target matcher (Eq. 4): it pulls
    every query towards the target nearest to the prior point it was
    generated from. Used next to mmdet's costs in ``HungarianAssigner``::

        assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='ClassificationCost', weight=1.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0),
            dict(type='PointL1Cost', weight=2.0)])

    Both sides are normalised by the image size: the points already are,
    and the ground-truth boxes are divided by ``img_meta['img_shape']`` as
    mmdet's ``BBoxL1Cost`` does.

    Example:
        In a 100 × 100 image, the point (0.7, 0.7) and the box
        [0, 0, 20, 20] (centre (0.1, 0.1)) cost 0.6 + 0.6 = 1.2 (times
        ``weight``).

    Args:
        weight (float): Cost weight λ_point. Defaults to 1.
    """

    def __call__(
        self,
        pred_instances: InstanceData,
        gt_instances: InstanceData,
        img_meta: Optional[dict] = None,
        **kwargs,
    ) -> Tensor:
        """Compute the cost.

        Args:
            pred_instances (InstanceData): ``points``, the reference points
                as normalised (x, y), shape (num_preds, 2).
            gt_instances (InstanceData): ``bboxes``, absolute xyxy, shape
                (num_gts, 4).
            img_meta (dict): With ``img_shape`` (h, w).

        Returns:
            Tensor: Cost matrix of shape (num_preds, num_gts).
        """
        points = pred_instances.points
        gt_bboxes = gt_instances.bboxes
        img_h, img_w = img_meta['img_shape'][:2]
        factor = gt_bboxes.new_tensor([img_w, img_h])
        centres = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) / 2 / factor
        cost = torch.cdist(points.to(centres), centres, p=1)
        return cost * self.weight
