# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's UNet decoder with the channels gated by the sentence."""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmgres.models.layers import UNetMaskDecoder
from mmgres.registry import MODELS

from .text_pooling import masked_text_pool


@MODELS.register_module()
class TextGatedUNetMaskDecoder(UNetMaskDecoder):
    """:class:`~mmgres.models.layers.UNetMaskDecoder` whose every stage is
    scaled channel-wise by ``sigmoid(Linear(s))``, ``s`` the pooled
    sentence, so that the decoder can favour the channels the expression
    asks for.

    For the synthetic benchmark's tiny random BEiT-3, which fuses the text
    into the image tokens too weakly on its own; IGVG's decoder reads the
    levels only.

    Args:
        text_channels (int): Width of the word features.
        text_pool (str): ``'mean'`` or ``'max'`` over the real words.
            Defaults to ``'mean'``.
        **kwargs: :class:`UNetMaskDecoder`'s arguments.
    """

    def __init__(
        self, text_channels: int, text_pool: str = 'mean', **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.text_pool = text_pool
        self.text_gates = nn.ModuleList(
            nn.Linear(text_channels, self.feat_channels) for _ in self.stages
        )

    def forward(
        self,
        feats: Sequence[Tensor],
        text_feats: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Decode the pyramid, gating every stage by the sentence.

        Args:
            feats (Sequence[Tensor]): The levels, fine to coarse.
            text_feats (Tensor): The words, (B, L, C_t).
            text_padding_mask (Tensor, optional): (B, L), True at padding.

        Returns:
            tuple[Tensor, Tensor]: S_global and the global mask logits.
        """
        if text_feats is None:
            raise ValueError('TextGatedUNetMaskDecoder needs `text_feats`.')
        feats = list(feats)
        if len(feats) != len(self.in_channels):
            raise ValueError(
                f'Expected {len(self.in_channels)} levels, got {len(feats)}.'
            )
        sentence = masked_text_pool(
            text_feats, text_padding_mask, self.text_pool
        )
        x = feats[-1]
        for stage, skip, gate in zip(
            self.stages, reversed(feats[:-1]), self.text_gates
        ):
            x = self.stage_forward(stage, x, skip)
            x = x * torch.sigmoid(gate(sentence))[:, :, None, None]
        return x, self.mask_conv(x)
