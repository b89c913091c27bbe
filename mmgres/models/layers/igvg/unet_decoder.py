# Copyright (c) mmgres contributors. All rights reserved.
"""UNet-style top-down decoder giving IGVG's global mask features."""

from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig


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
    It reads no text: BEiT-3 has fused the expression into the image
    tokens the levels come from (InstanceVG's ``UnetDecoder`` takes the
    four levels only).

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
        align_corners (bool): Of the bilinear upsampling. Defaults to False
            (ours; InstanceVG's code uses True, which its release config
            sets).
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
        self.mask_conv = nn.Conv2d(feat_channels, 1, 1)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Decode the pyramid.

        Args:
            feats (Sequence[Tensor]): The levels, fine to coarse, level i of
                shape (B, in_channels[i], H_i, W_i).

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
        x = feats[-1]
        for stage, skip in zip(self.stages, reversed(feats[:-1])):
            x = self.stage_forward(stage, x, skip)
        return x, self.mask_conv(x)

    def stage_forward(
        self, stage: nn.Module, x: Tensor, skip: Tensor
    ) -> Tensor:
        """One stage: upsample ``x`` to ``skip``, concatenate, convolve."""
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(
                x,
                size=skip.shape[-2:],
                mode='bilinear',
                align_corners=self.align_corners,
            )
        return stage(torch.cat([x, skip], dim=1))
