# Copyright (c) mmgres contributors. All rights reserved.
"""SimFPN: a ViTDet-style simple feature pyramid from one ViT map."""

import copy
import math
from typing import Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptConfigType, OptMultiConfig


def resolve_norm_cfg(norm_cfg: OptConfigType) -> OptConfigType:
    """Map ``type='LN2d'`` to mmseg's channel-first ``LayerNorm2d``.

    ViTDet normalises its pyramid with a LayerNorm over the channels of a
    (B, C, H, W) map. mmseg ships one (``mmseg.models.utils.LayerNorm2d``)
    without registering it; mmcv's ``build_norm_layer`` accepts the class
    itself, so the config can keep the short name.
    """
    if norm_cfg is None or norm_cfg.get('type') != 'LN2d':
        return norm_cfg
    from mmseg.models.utils import LayerNorm2d

    cfg = copy.deepcopy(dict(norm_cfg))
    cfg['type'] = LayerNorm2d
    cfg.pop('requires_grad', None)
    return cfg


@MODELS.register_module()
class SimFPN(BaseModule):
    """Simple feature pyramid over a single stride-16 ViT map (ViTDet).

    IGVG (Sec. 3, after Li et al. 2022, "Exploring Plain Vision Transformer
    Backbones for Object Detection") builds its multi-scale features from
    the one BEiT-3 image map. Each output level comes from the same input:

    - scale 4: deconv 2x2/2 (C -> C/2), norm, GELU, deconv 2x2/2
      (C/2 -> C/4);
    - scale 2: deconv 2x2/2 (C -> C/2);
    - scale 1: identity;
    - scale 1/2: max-pool 2x2/2 (1/4: max-pool 4x4/4).

    Any power-of-two scale works the same way (k deconvs halve the channels
    k times). Then every level gets a 1x1 conv and a 3x3 conv, each with
    ``norm_cfg`` and ``act_cfg``, to ``out_channels``.

    With a stride-16 input and the default scales the outputs have strides
    (4, 8, 16, 32).

    Args:
        in_channels (int): Channels C of the input map. Defaults to 256
            (IGVG's projected F_i).
        out_channels (int): Channels of every output level. Defaults to 256.
        scale_factors (Sequence[float]): Resize factor of each output level,
            in output order. Defaults to (4.0, 2.0, 1.0, 0.5).
        norm_cfg (dict, optional): Norm of the deconv stacks and the convs.
            ``'LN2d'`` is a channel LayerNorm (ViTDet). Defaults to
            ``dict(type='LN2d')``.
        act_cfg (dict, optional): Activation after the 1x1 and 3x3 convs.
            Defaults to None, as ViTDet.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: int = 256,
        out_channels: int = 256,
        scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
        norm_cfg: OptConfigType = dict(type='LN2d'),
        act_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not scale_factors:
            raise ValueError('SimFPN needs at least one scale factor.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(float(s) for s in scale_factors)
        norm_cfg = resolve_norm_cfg(norm_cfg)

        self.stages = nn.ModuleList()
        self.lateral_convs = nn.ModuleList()
        self.fpn_convs = nn.ModuleList()
        for scale in self.scale_factors:
            stage, channels = self._build_stage(scale, in_channels, norm_cfg)
            self.stages.append(stage)
            self.lateral_convs.append(
                ConvModule(
                    channels,
                    out_channels,
                    1,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )
            self.fpn_convs.append(
                ConvModule(
                    out_channels,
                    out_channels,
                    3,
                    padding=1,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    inplace=False,
                )
            )

    @staticmethod
    def _build_stage(
        scale: float, channels: int, norm_cfg: OptConfigType
    ) -> Tuple[nn.Module, int]:
        """The resampling op of one level and its output channels."""
        log2 = math.log2(scale) if scale > 0 else float('nan')
        if not log2 == round(log2):
            raise ValueError(
                f'SimFPN scale factors must be powers of two, got {scale}.'
            )
        steps = int(round(log2))
        if steps == 0:
            return nn.Identity(), channels
        if steps < 0:
            k = 2 ** (-steps)
            return nn.MaxPool2d(kernel_size=k, stride=k), channels
        if channels % (2**steps):
            raise ValueError(
                f'in_channels={channels} cannot be halved {steps} times for '
                f'scale {scale}.'
            )
        layers = []
        for i in range(steps):
            if i > 0:
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, channels)[1])
                layers.append(nn.GELU())
            layers.append(
                nn.ConvTranspose2d(channels, channels // 2, 2, stride=2)
            )
            channels //= 2
        return nn.Sequential(*layers), channels

    def forward(self, x: Union[Tensor, Sequence[Tensor]]) -> Tuple[Tensor]:
        """Build the pyramid.

        Args:
            x (Tensor | Sequence[Tensor]): The ViT map, shape (B, C, H, W),
                or a one-element sequence holding it (a backbone's output).

        Returns:
            tuple[Tensor]: One map per scale factor, in that order, shape
            (B, out_channels, H * s, W * s).
        """
        if isinstance(x, (list, tuple)):
            if len(x) != 1:
                raise ValueError(
                    f'SimFPN takes one feature map, got {len(x)}.'
                )
            x = x[0]
        outs = []
        for stage, lateral, fpn_conv in zip(
            self.stages, self.lateral_convs, self.fpn_convs
        ):
            outs.append(fpn_conv(lateral(stage(x))))
        return tuple(outs)
