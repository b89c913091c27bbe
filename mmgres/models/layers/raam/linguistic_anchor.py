# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM linguistic anchor learning (Eq. 1-2)."""

import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


def masked_softmax(
    logits: Tensor, key_padding_mask: Optional[Tensor] = None
) -> Tensor:
    """Softmax over the last dim, ignoring padded keys.

    Args:
        logits (Tensor): Attention logits, shape (B, Q, K).
        key_padding_mask (Tensor, optional): Shape (B, K), True for padding.
            A row whose keys are all padded gets uniform weights instead of
            NaNs.

    Returns:
        Tensor: Weights of shape (B, Q, K) summing to 1 over K.
    """
    if key_padding_mask is not None:
        fill = torch.finfo(logits.dtype).min
        logits = logits.masked_fill(key_padding_mask[:, None, :], fill)
    return logits.softmax(dim=-1)


@MODELS.register_module()
class LinguisticAnchorLearning(BaseModule):
    """The anchors read the words: RaAM's linguistic anchor learning.

    With anchors ``P`` (N×C_l) and word features ``L`` (T×C_l):

    .. math::

        Att^L = ω_{p1}(P)\\, ω_{l1}(L)^T / \\sqrt{C_l}            (Eq. 1)

        P^L = \\mathrm{LN}(P + \\mathrm{softmax}_T(Att^L)\\, ω_{l2}(L))
                                                         (Eq. 2)

    The paper implements every ω as a 1×1 convolution; over a sequence that
    is exactly a per-token :class:`torch.nn.Linear`, which is what is used.
    The softmax runs over the words; padded words get zero weight.

    The cost is O(N·T·C_l + (N+T)·C_l²): linear in the text length T and
    free of the number of image tokens.

    Args:
        text_channels (int): C_l, the width of the anchors and the words.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self, text_channels: int, init_cfg: OptMultiConfig = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.text_channels = text_channels
        self.anchor_query = nn.Linear(text_channels, text_channels)  # ω_p1
        self.text_key = nn.Linear(text_channels, text_channels)  # ω_l1
        self.text_value = nn.Linear(text_channels, text_channels)  # ω_l2
        self.norm = nn.LayerNorm(text_channels)

    def activation(self, anchors: Tensor, text: Tensor) -> Tensor:
        """Eq. 1: the anchor-word logits ``Att^L``.

        Args:
            anchors (Tensor): ``P``, shape (B, N, C_l).
            text (Tensor): ``L``, shape (B, T, C_l).

        Returns:
            Tensor: Shape (B, N, T), before the softmax.
        """
        q = self.anchor_query(anchors)
        k = self.text_key(text)
        return q @ k.transpose(1, 2) / math.sqrt(self.text_channels)

    def forward(
        self,
        anchors: Tensor,
        text: Tensor,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Eq. 2: the language-aware anchors ``P^L``.

        Args:
            anchors (Tensor): ``P_{i-1}``, shape (B, N, C_l).
            text (Tensor): Word features ``L``, shape (B, T, C_l).
            text_padding_mask (Tensor, optional): Shape (B, T), True for
                padding (the ``padding_mask`` of :class:`HFTextEncoder`).

        Returns:
            Tensor: ``P^L``, shape (B, N, C_l).
        """
        attn = masked_softmax(
            self.activation(anchors, text), text_padding_mask
        )
        return self.norm(anchors + attn @ self.text_value(text))
