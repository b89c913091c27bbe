# Copyright (c) mmgres contributors. All rights reserved.
"""Phrase-Object Alignment (InstAlign)."""

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmgres.registry import MODELS


def phrase_features(
    query_feats: Tensor,
    text_feats: Tensor,
    text_padding_mask: Optional[Tensor],
) -> Tensor:
    """The phrase each object query attends to (InstAlign, Eq. POA).

    ``A = softmax(q Tᵀ / √d)`` over the words, ``p_i = Σ_l A_il T_l``.

    Args:
        query_feats (Tensor): Queries q, shape (B, Q, C).
        text_feats (Tensor): Word features T, shape (B, L, C).
        text_padding_mask (Tensor, optional): Shape (B, L), True at padding;
            padding words get no attention.

    Returns:
        Tensor: Phrase features p, shape (B, Q, C).

    Example:
        With one query q = [1, 0] and two words T = [[1, 0], [0, 1]] (d = 2),
        the logits are [1/√2, 0], so A = [0.670, 0.330] and
        p = [0.670, 0.330].
    """
    scale = 1.0 / math.sqrt(query_feats.shape[-1])
    logits = torch.einsum('bqc,blc->bql', query_feats, text_feats) * scale
    if text_padding_mask is not None:
        logits = logits.masked_fill(
            text_padding_mask[:, None, :], float('-inf')
        )
    attn = logits.softmax(dim=-1)
    return torch.einsum('bql,blc->bqc', attn, text_feats)


def poa_distance(query_feats: Tensor, phrase_feats: Tensor) -> Tensor:
    """``1 - cos(q_i, p_i)``, element-wise over the leading dims.

    Args:
        query_feats (Tensor): Shape (..., C).
        phrase_feats (Tensor): Shape (..., C).

    Returns:
        Tensor: Shape (...), in [0, 2].
    """
    return 1.0 - F.cosine_similarity(query_feats, phrase_feats, dim=-1)


@MODELS.register_module()
class POALoss(nn.Module):
    """Phrase-Object Alignment loss: the mean of ``1 - cos(q_i, p_i)`` over
    the matched queries.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(
        self,
        query_feats: Tensor,
        phrase_feats: Tensor,
        avg_factor: Optional[float] = None,
    ) -> Tensor:
        """
        Args:
            query_feats (Tensor): Matched queries, shape (N, C).
            phrase_feats (Tensor): Their phrase features, shape (N, C).
            avg_factor (float, optional): Divisor instead of N (e.g. the
                number of matches averaged over ranks).

        Returns:
            Tensor: The weighted loss, a scalar. Zero (with gradient) when
            N = 0.
        """
        dist = poa_distance(query_feats, phrase_feats)
        if avg_factor is None:
            avg_factor = max(dist.numel(), 1)
        return self.loss_weight * dist.sum() / avg_factor
