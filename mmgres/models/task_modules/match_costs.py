# Copyright (c) mmgres contributors. All rights reserved.
"""Match costs for mmdet's ``HungarianAssigner``.

Each returns a cost matrix of shape (num_preds, num_gts), scaled by
``weight``, and is chosen in config::

    assigner=dict(type='HungarianAssigner', match_costs=[
        dict(type='RelevanceCost', weight=2.0),
        dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
        dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
        dict(type='POACost', weight=1.0)])
"""

from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.assigners.match_cost import (
    BaseMatchCost,
    FocalLossCost,
)
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.losses.poa_loss import poa_distance
from mmgres.registry import TASK_UTILS


@TASK_UTILS.register_module()
class RelevanceCost(BaseMatchCost):
    """``BCE(r_i, y_j)`` of each query's relevance logit r_i.

    ``y_j = 1`` for a target of the expression, so the cost is
    ``softplus(-r_i)``, the same for every target: it makes relevant
    queries cheaper to match (InstAlign's λ_rel term). When
    ``gt_instances.relevant`` (bool, (G,)) is given, as with context
    instances (all objects of the image), the objects that are not targets
    cost ``BCE(r_i, 0) = softplus(r_i)``.

    ``pred_instances.scores``: relevance logits, shape (Q,) or (Q, 1).
    """

    def __call__(
        self,
        pred_instances: InstanceData,
        gt_instances: InstanceData,
        img_meta: Optional[dict] = None,
        **kwargs,
    ) -> Tensor:
        logits = pred_instances.scores.reshape(-1)
        cost = F.softplus(-logits)[:, None].expand(-1, len(gt_instances))
        relevant = gt_instances.get('relevant', None)
        if relevant is not None:
            cost = torch.where(
                relevant.bool()[None, :], cost, F.softplus(logits)[:, None]
            )
        return cost * self.weight


@TASK_UTILS.register_module()
class POACost(BaseMatchCost):
    """Phrase-Object Alignment cost ``1 - cos(q_i, p_i)`` (InstAlign).

    Uses ``pred_instances.query_feats`` (Q, C) and
    ``pred_instances.phrase_feats`` (Q, C), the phrase each query attends to
    (:func:`mmgres.models.losses.phrase_features`). The cost is the same for
    every target; objects that are not targets (``gt_instances.relevant``
    False, with context instances) cost 0.
    """

    def __call__(
        self,
        pred_instances: InstanceData,
        gt_instances: InstanceData,
        img_meta: Optional[dict] = None,
        **kwargs,
    ) -> Tensor:
        dist = poa_distance(
            pred_instances.query_feats, pred_instances.phrase_feats
        )
        cost = dist[:, None].expand(-1, len(gt_instances))
        relevant = gt_instances.get('relevant', None)
        if relevant is not None:
            cost = cost * relevant.to(cost.dtype)[None, :]
        return cost * self.weight


@TASK_UTILS.register_module()
class ContextFocalLossCost(FocalLossCost):
    """mmdet's ``FocalLossCost`` (label input) that also accepts background
    ground truths, as context instances bring them (ours).

    With context instances (e.g. the ``igvg_extensions`` project's head) the
    Hungarian matching runs against every object of the image; the objects
    that the expression does not refer to carry the background label
    ``K`` (the number of sigmoid logits; mmdet's convention that
    ``num_classes`` is background). mmdet's ``FocalLossCost`` would index
    a logit that does not exist for them. Here, with ``pos_k`` and
    ``neg_k`` the focal losses of calling logit k positive or negative:

    - a ground truth of class ``k < K`` costs ``pos_k - neg_k``, exactly
      as in ``FocalLossCost``;
    - a background ground truth costs ``sum_k (neg_k - pos_k)``, the focal
      cost of predicting no class rather than the classes. With IGVG's one
      "target" logit this is the opposite of a target's cost, so the
      assigner gives the referred objects to the queries that score high
      on "target" and the other objects to those that score low.

    With a softmax classifier (a background logit), mmdet's
    ``ClassificationCost`` needs nothing of this: ``-softmax[:, K]`` is
    already the cost of predicting "not target".

    ``binary_input=True`` (mask input) is ``FocalLossCost`` unchanged.
    """

    def _focal_loss_cost(self, cls_pred: Tensor, gt_labels: Tensor) -> Tensor:
        num_classes = cls_pred.shape[1]
        if len(gt_labels) and int(gt_labels.max()) > num_classes:
            raise ValueError(
                f'ContextFocalLossCost: labels must be in [0, {num_classes}] '
                f'({num_classes} = background), got {int(gt_labels.max())}'
            )
        cls_pred = cls_pred.sigmoid()
        neg_cost = (
            -(1 - cls_pred + self.eps).log()
            * (1 - self.alpha)
            * cls_pred.pow(self.gamma)
        )
        pos_cost = (
            -(cls_pred + self.eps).log()
            * self.alpha
            * (1 - cls_pred).pow(self.gamma)
        )
        background = gt_labels == num_classes
        cls_cost = (
            pos_cost[:, gt_labels.clamp(max=num_classes - 1)]
            - neg_cost[:, gt_labels.clamp(max=num_classes - 1)]
        )
        bg_cost = (neg_cost - pos_cost).sum(1, keepdim=True)
        cls_cost = torch.where(background[None, :], bg_cost, cls_cost)
        return cls_cost * self.weight
