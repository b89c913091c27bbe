# Copyright (c) mmgres contributors. All rights reserved.
"""UNet-style top-down decoder giving IGVG's global mask features."""

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig

from .text_pooling import masked_text_pool


@MODELS.register_module()
class UNetMaskDecoder(BaseModule):
    """Small UNet decoder over the SimFPN levels: S_global and the global mask.

    IGVG's global branch (Sec. 3): "SimFPN extends the single-layer output of
    ViT to multi-scale features; a simple UNet decoder fuses them and
    produces S_global". Starting from the coarsest level, each stage

    1. upsamples the running map bilinearly to the next finer level,
    2. concatenates that level (the skip connection),
    3. applies ``num_convs`` 3x3 ConvModules (conv, norm, activation),

    so with SimFPN's strides (4, 8, 16, 32) the result S_global has stride 4
    and ``feat_channels`` channels. A 1x1 conv gives the 1-channel global
    mask logit from S_global. S_global is also what the instance masks are
    made from (Q_s = Q_d . S_global) and what the no-target branch pools.

    Optional text gating (``text_channels`` set, ours): after each stage the
    map is multiplied channel-wise by ``sigmoid(Linear(s))``, with ``s`` the
    pooled sentence feature, so the decoder can favour the channels the
    expression asks for.

    Args:
        in_channels (int | Sequence[int]): Channels of the input levels,
            ordered fine to coarse; an int means ``num_levels`` levels of
            that width. Defaults to 256.
        feat_channels (int): Channels of every stage, hence of S_global.
            Defaults to 256.
        num_levels (int): Number of levels when ``in_channels`` is an int.
            Defaults to 4.
        num_convs (int): 3x3 convs per stage. Defaults to 2.
        norm_cfg (dict, optional): Defaults to ``dict(type='BN')``.
        act_cfg (dict): Defaults to ``dict(type='ReLU')``.
        text_channels (int, optional): Width of the text features; enables
            the text gating. Defaults to None (no gating).
        text_pool (str): ``'mean'`` or ``'max'`` over the real words, used
            when the sentence feature is not given. Defaults to ``'mean'``.
        align_corners (bool): Of the bilinear upsampling. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: Union[int, Sequence[int]] = 256,
        feat_channels: int = 256,
        num_levels: int = 4,
        num_convs: int = 2,
        norm_cfg: OptConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='ReLU'),
        text_channels: Optional[int] = None,
        text_pool: str = 'mean',
        align_corners: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            in_channels = [in_channels] * num_levels
        in_channels = list(in_channels)
        if len(in_channels) < 2:
            raise ValueError('UNetMaskDecoder needs at least two levels.')
        if num_convs < 1:
            raise ValueError('num_convs must be >= 1.')
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.text_channels = text_channels
        self.text_pool = text_pool
        self.align_corners = align_corners

        # stage i fuses the running map with level i, for i = L-2 ... 0
        self.stages = nn.ModuleList()
        running = in_channels[-1]
        for skip in reversed(in_channels[:-1]):
            convs = []
            c_in = running + skip
            for _ in range(num_convs):
                convs.append(
                    ConvModule(
                        c_in,
                        feat_channels,
                        3,
                        padding=1,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg,
                    )
                )
                c_in = feat_channels
            self.stages.append(nn.Sequential(*convs))
            running = feat_channels
        if text_channels:
            self.text_gates = nn.ModuleList(
                nn.Linear(text_channels, feat_channels) for _ in self.stages
            )
        else:
            self.text_gates = None
        self.mask_conv = nn.Conv2d(feat_channels, 1, 1)

    def forward(
        self,
        feats: Sequence[Tensor],
        text_feats: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
        sentence_feat: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Decode the pyramid.

        Args:
            feats (Sequence[Tensor]): The levels, fine to coarse, level i of
                shape (B, in_channels[i], H_i, W_i).
            text_feats (Tensor, optional): Word features (B, L, C_t), pooled
                for the gating when ``sentence_feat`` is not given.
            text_padding_mask (Tensor, optional): Shape (B, L), True at
                padding.
            sentence_feat (Tensor, optional): Shape (B, C_t).

        Returns:
            tuple[Tensor, Tensor]:

            - ``s_global``: Shape (B, feat_channels, H_0, W_0).
            - ``mask_logits``: global mask logits, shape (B, 1, H_0, W_0).
        """
        feats = list(feats)
        if len(feats) != len(self.in_channels):
            raise ValueError(
                f'Expected {len(self.in_channels)} levels, got {len(feats)}.'
            )
        gates = self._gates(text_feats, text_padding_mask, sentence_feat)
        x = feats[-1]
        for i, (stage, skip) in enumerate(
            zip(self.stages, reversed(feats[:-1]))
        ):
            if x.shape[-2:] != skip.shape[-2:]:
                x = F.interpolate(
                    x,
                    size=skip.shape[-2:],
                    mode='bilinear',
                    align_corners=self.align_corners,
                )
            x = stage(torch.cat([x, skip], dim=1))
            if gates is not None:
                x = x * gates[i]
        return x, self.mask_conv(x)

    def _gates(
        self,
        text_feats: Optional[Tensor],
        text_padding_mask: Optional[Tensor],
        sentence_feat: Optional[Tensor],
    ) -> Optional[List[Tensor]]:
        if self.text_gates is None:
            return None
        if sentence_feat is None:
            if text_feats is None:
                raise ValueError(
                    'UNetMaskDecoder with text gating needs `text_feats` or '
                    '`sentence_feat`.'
                )
            sentence_feat = masked_text_pool(
                text_feats, text_padding_mask, self.text_pool
            )
        return [
            torch.sigmoid(g(sentence_feat))[:, :, None, None]
            for g in self.text_gates
        ]
