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

import torch.nn.functional as F
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.losses.poa_loss import poa_distance
from mmgres.registry import TASK_UTILS


@TASK_UTILS.register_module()
class RelevanceCost(BaseMatchCost):
    """``BCE(r_i, 1) = softplus(-r_i)`` of each query's relevance logit r_i.

    The same for every ground truth: it makes relevant queries cheaper to
    match (InstAlign's λ_rel term).

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
        return cost * self.weight


@TASK_UTILS.register_module()
class POACost(BaseMatchCost):
    """Phrase-Object Alignment cost ``1 - cos(q_i, p_i)`` (InstAlign).

    Uses ``pred_instances.query_feats`` (Q, C) and
    ``pred_instances.phrase_feats`` (Q, C), the phrase each query attends to
    (:func:`mmgres.models.losses.phrase_features`). The cost is the same for
    every ground truth.
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
        return dist[:, None].expand(-1, len(gt_instances)) * self.weight
