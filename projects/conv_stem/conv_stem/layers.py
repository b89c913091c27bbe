# Copyright (c) mmgres contributors. All rights reserved.
"""A convolutional stem in place of a ViT's patchify projection."""

import math

import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmgres.utils import ConfigType


class ConvStem(nn.Module):
    """``log2(patch_size)`` stride-2 3×3 convolutions that replace a ViT's
    ``patch_size``×``patch_size`` patchify convolution (Xiao et al., "Early
    Convolutions Help Transformers See Better", NeurIPS 2021).

    The output has the same shape as the patchify convolution's: an input
    of (B, C_in, H, W) (H, W multiples of ``patch_size``) gives
    (B, ``out_channels``, H / p, W / p). Widths double from
    ``out_channels / 2^(n-1)`` (at least ``min_channels``) up to
    ``out_channels``; every convolution but the last one has a norm and an
    activation, the last one a bias, like the projection it replaces.

    Ours, for models trained from scratch: on the synthetic benchmark a
    tiny ViT with a patchify stem stays at chance on the objects' shapes
    after 300 iterations of training on the shapes alone, and reaches
    94.8 % with this stem (``configs/raam/README.md``). Pretrained ViT
    checkpoints have no weights for it.

    Args:
        in_channels (int): Input channels. Defaults to 3.
        out_channels (int): Output channels (the ViT width).
        patch_size (int): The patch size it replaces, a power of 2.
        min_channels (int): Narrowest hidden width. Defaults to 16.
        norm_cfg (dict): Norm of the hidden convolutions. Defaults to BN.
        act_cfg (dict): Activation of the hidden convolutions. Defaults
            to ReLU.
    """

    def __init__(
        self,
        out_channels: int,
        patch_size: int,
        in_channels: int = 3,
        min_channels: int = 16,
        norm_cfg: ConfigType = dict(type='BN'),
        act_cfg: ConfigType = dict(type='ReLU'),
    ) -> None:
        super().__init__()
        if patch_size < 2 or patch_size & (patch_size - 1):
            raise ValueError(
                f'patch_size must be a power of 2 >= 2, got {patch_size}'
            )
        n = int(math.log2(patch_size))
        layers = []
        cin = in_channels
        for i in range(n):
            last = i == n - 1
            cout = (
                out_channels
                if last
                else max(min_channels, out_channels // 2 ** (n - 1 - i))
            )
            layers.append(
                ConvModule(
                    cin,
                    cout,
                    3,
                    stride=2,
                    padding=1,
                    bias=last,
                    norm_cfg=None if last else norm_cfg,
                    act_cfg=None if last else act_cfg,
                )
            )
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_channels = out_channels
        self.patch_size = patch_size

    @property
    def weight(self) -> Tensor:
        """The last convolution's weight: HF vision embeddings read
        ``patch_embedding.weight.dtype`` to cast their input."""
        return self.layers[-1].conv.weight

    @classmethod
    def replace_patchify(
        cls, parent: nn.Module, name: str, **kwargs
    ) -> 'ConvStem':
        """Replace the patchify convolution ``parent.<name>`` (an
        ``nn.Conv2d`` with kernel size = stride) by a ``ConvStem`` of the
        same input and output channels and patch size, and return it.

        Args:
            parent (nn.Module): The module holding the convolution, e.g.
                mmseg's ``PatchEmbed`` or HF's ``CLIPVisionEmbeddings``.
            name (str): Its attribute name (``'projection'``,
                ``'patch_embedding'``, ``'proj'``).
            **kwargs: ``min_channels``, ``norm_cfg``, ``act_cfg``.
        """
        conv = getattr(parent, name, None)
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(
                f'{type(parent).__name__}.{name} is {type(conv).__name__}, '
                'not the nn.Conv2d patchify projection a ConvStem replaces'
            )
        if (
            conv.kernel_size != conv.stride
            or conv.kernel_size[0] != conv.kernel_size[1]
            or any(conv.padding)
        ):
            raise ValueError(
                'conv_stem needs a patchify projection (square kernel = '
                f'stride, no padding), got {conv}'
            )
        stem = cls(
            out_channels=conv.out_channels,
            patch_size=conv.kernel_size[0],
            in_channels=conv.in_channels,
            **kwargs,
        ).to(device=conv.weight.device, dtype=conv.weight.dtype)
        setattr(parent, name, stem)
        return stem

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) → (B, out_channels, H / p, W / p)."""
        return self.layers(x)
