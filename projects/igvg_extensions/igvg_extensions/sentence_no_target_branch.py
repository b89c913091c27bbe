# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's no-target branch with the pooled sentence fused in."""

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmgres.models.heads import NoTargetBranch
from mmgres.registry import MODELS

from .text_pooling import masked_text_pool


@MODELS.register_module()
class SentenceNoTargetBranch(NoTargetBranch):
    """:class:`~mmgres.models.heads.NoTargetBranch` that also reads the
    expression: the pixel-averaged S_global features and
    ``ReLU(Linear(s))`` of the pooled sentence ``s`` are concatenated and
    fused by ``Linear + ReLU`` before the two logits.

    The expression itself says what should be absent; IGVG's branch reads
    S_global only (BEiT-3 has fused the text into it), which the tiny
    random BEiT-3 of the synthetic benchmark does poorly.

    Args:
        text_channels (int): Width of the word features.
        text_pool (str): ``'mean'`` or ``'max'`` over the real words.
            Defaults to ``'mean'``.
        **kwargs: :class:`NoTargetBranch`'s arguments (``feat_channels``
            is also the width of the sentence and fused features).
    """

    def __init__(
        self, text_channels: int, text_pool: str = 'mean', **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.text_pool = text_pool
        feat_channels = kwargs.get('feat_channels', 256)
        self.text_fc = nn.Sequential(
            nn.Linear(text_channels, feat_channels), nn.ReLU(inplace=True)
        )
        self.fuse_fc = nn.Sequential(
            nn.Linear(self.visual_channels + feat_channels, feat_channels),
            nn.ReLU(inplace=True),
        )
        self.cls_fc = nn.Linear(feat_channels, 2)

    def forward(
        self,
        feats: Tensor,
        text_feats: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """The no-target logits (B, 2) from S_global (B, C, H, W) and the
        words (B, L, C_t) with their padding mask (B, L)."""
        if text_feats is None:
            raise ValueError('SentenceNoTargetBranch needs `text_feats`.')
        sentence = masked_text_pool(
            text_feats, text_padding_mask, self.text_pool
        )
        fused = torch.cat([self.pool(feats), self.text_fc(sentence)], dim=-1)
        return self.cls_fc(self.fuse_fc(fused))
