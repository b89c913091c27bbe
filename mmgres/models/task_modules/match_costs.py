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
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
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
