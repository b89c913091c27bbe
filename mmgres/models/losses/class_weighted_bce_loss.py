# Copyright (c) mmgres contributors. All rights reserved.
"""Binary cross-entropy with a weight per class, averaged over the weights
(ReLA's merged-mask criterion)."""

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor

from mmgres.registry import MODELS


@MODELS.register_module()
class ClassWeightedBCELoss(nn.Module):
    """Sigmoid BCE with the elements weighted by their binary target's class
    and divided by the sum of the weights:
    ``Σ_i w_{y_i} BCE(x_i, y_i) / Σ_i w_{y_i}``.

    This is what ``F.cross_entropy(weight=class_weight)`` averages over two
    classes (background, target) with logits ``[0, x]``: ReLA's criterion
    (``gres_model/modeling/criterion.py``) supervises its merged mask so,
    with class weights ``[0.9, 1.1]``. mmdet's ``CrossEntropyLoss`` does
    not compute it from a config: with ``use_sigmoid`` its ``class_weight``
    is BCE's ``pos_weight`` (the background keeps weight 1) and ``'mean'``
    divides by the number of elements, not by the weights.

    Example:
        Logits ``[0, 0]``, targets ``[1, 0]``, class weights
        ``(0.9, 1.1)``: both BCEs are ``log 2``, so the loss is
        ``(1.1 log 2 + 0.9 log 2) / (1.1 + 0.9) = log 2``; logits
        ``[2, 0]`` give ``(1.1 softplus(-2) + 0.9 log 2) / 2``.

    Args:
        class_weight (Sequence[float]): Weights of the background (target
            0) and target (target 1) elements, >= 0, not both 0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(
        self, class_weight: Sequence[float], loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        if len(class_weight) != 2 or min(class_weight) < 0:
            raise ValueError(
                'class_weight must be (background, target) weights >= 0, '
                f'got {class_weight!r}'
            )
        if max(class_weight) == 0:
            raise ValueError('class_weight must not be all 0')
        self.class_weight = tuple(float(w) for w in class_weight)
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """
        Args:
            pred (Tensor): Logits, any shape.
            target (Tensor): Binary targets (bool, or 0/1), same shape.

        Returns:
            Tensor: The weighted loss, a scalar.
        """
        pred = pred.reshape(-1)
        target = target.reshape(-1) > 0.5
        background, positive = self.class_weight
        weight = torch.where(
            target, pred.new_tensor(positive), pred.new_tensor(background)
        )
        loss = F.binary_cross_entropy_with_logits(
            pred, target.to(pred.dtype), reduction='none'
        )
        # mmdet's weighted mean (its eps in the divisor included)
        return self.loss_weight * weight_reduce_loss(
            loss, weight, reduction='mean', avg_factor=weight.sum()
        )
