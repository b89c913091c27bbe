# Copyright (c) mmgres contributors. All rights reserved.
"""LAVT-style direct pixel-word interaction, the baseline of RaAM's
Table 5(a)."""

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig

from .linguistic_anchor import masked_softmax


@MODELS.register_module()
class PixelWordAttentionFusion(BaseModule):
    """Direct vision-language interaction: every pixel attends to every word.

    The pixel-word attention module (PWAM) and language gate of LAVT (Yang
    et al., CVPR 2022), which RaAM's Table 5(a) puts in place of the anchors
    ("Direct Interaction"). For the stage's output ``F¹`` (C_v×M, M = H·W)
    and the words ``L`` (T×C_l):

    * pixel→word attention:
      ``A = softmax_T(IN(W_q F¹)ᵀ (W_k L) / √C_v)`` (M×T, padded words
      masked), ``G = IN(W_o (W_v L) Aᵀ)`` (C_v×M);
    * multimodal product: ``S = GELU(W_m (GELU(W_s F¹) ⊙ G))``;
    * language gate: ``F = F¹ + tanh(W_2 ReLU(W_1 S)) ⊙ S``.

    All W are 1×1 convolutions / per-token linear maps of width C_v (LAVT
    builds its PWAM with key and value widths equal to the visual width, one
    head and no dropout); IN is instance normalisation over the pixels. The
    attention makes the cost O(2·M·T·C_v) on top of the O(M·C²)
    projections: it grows with the product M·T, where RaAM grows with
    M + T.

    It has the interface of :class:`RegionAwareAnchoringNetwork`, so that the
    backbone switches between them in config. It uses no anchors; the
    "anchors" it returns, which the region-aware head needs, are the fused
    feature averaged over each cell of the region grid (ours: a descriptor of
    each region that costs O(M) and adds no interaction of its own).

    Args:
        visual_channels (int): C_v, the width of the stage's features.
        text_channels (int): C_l, the width of the words.
        region_grid (tuple[int, int]): Cells (rows, columns) of the region
            grid for the returned anchors. Defaults to (4, 4).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        visual_channels: int,
        text_channels: int,
        region_grid: Sequence[int] = (4, 4),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        c = visual_channels
        self.channels = c
        self.region_grid = tuple(region_grid)
        self.pixel_query = nn.Sequential(
            nn.Conv1d(c, c, 1), nn.InstanceNorm1d(c)
        )
        self.word_key = nn.Linear(text_channels, c)
        self.word_value = nn.Linear(text_channels, c)
        self.attn_out = nn.Sequential(nn.Conv1d(c, c, 1), nn.InstanceNorm1d(c))
        self.visual_proj = nn.Sequential(nn.Conv1d(c, c, 1), nn.GELU())
        self.mm_proj = nn.Sequential(nn.Conv1d(c, c, 1), nn.GELU())
        self.gate = nn.Sequential(
            nn.Linear(c, c, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(c, c, bias=False),
            nn.Tanh(),
        )

    def attention(
        self,
        pixels: Tensor,
        text: Tensor,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Pixel→word attention weights, shape (B, M, T).

        Args:
            pixels (Tensor): Flattened ``F¹``, shape (B, C_v, M).
            text (Tensor): Words, shape (B, T, C_l).
            text_padding_mask (Tensor, optional): (B, T), True for padding.
        """
        q = self.pixel_query(pixels).transpose(1, 2)  # (B, M, C_v)
        k = self.word_key(text)  # (B, T, C_v)
        logits = q @ k.transpose(1, 2) / math.sqrt(self.channels)
        return masked_softmax(logits, text_padding_mask)

    def forward(
        self,
        visual: Tensor,
        text: Tensor,
        text_padding_mask: Optional[Tensor] = None,
        anchors: Optional[Tensor] = None,
        anchor_embed: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Fuse the words into every pixel.

        Args:
            visual (Tensor): ``F¹``, shape (B, C_v, H, W).
            text (Tensor): Words, shape (B, T, C_l).
            text_padding_mask (Tensor, optional): (B, T), True for padding.
            anchors (Tensor, optional): Ignored (interface of
                :class:`RegionAwareAnchoringNetwork`).
            anchor_embed (Tensor, optional): Ignored, as ``anchors``.

        Returns:
            tuple[Tensor, Tensor]: The fused feature (B, C_v, H, W) and the
            region descriptors (B, N, C_v), N = rows × columns of the grid,
            regions in row-major order.
        """
        b, c, h, w = visual.shape
        pixels = visual.flatten(2)
        attn = self.attention(pixels, text, text_padding_mask)
        words = attn @ self.word_value(text)  # (B, M, C_v)
        del attn  # free each (B, M, ·) map as soon as it is used
        words = self.attn_out(words.transpose(1, 2))  # (B, C, M)
        mm = self.visual_proj(pixels) * words
        del words
        mm = self.mm_proj(mm).transpose(1, 2)  # (B, M, C)
        fused = torch.addcmul(pixels.transpose(1, 2), self.gate(mm), mm)
        del mm
        fused = fused.transpose(1, 2).reshape(b, c, h, w)
        regions = F.adaptive_avg_pool2d(fused, self.region_grid)
        return fused, regions.flatten(2).transpose(1, 2)
