# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM visual anchor learning with bidirectional activation (Eq. 4-7)."""

import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class VisualAnchorLearning(BaseModule):
    """Anchors and pixels activate each other: RaAM's visual anchor learning.

    With the language-carrying anchors ``P = P^cross`` (N×C) and the
    stage's output ``F¹`` (C×H×W), M = H·W:

    .. math::

        Att^V = ω_{p2}(P)\\, \\mathrm{Flatten}(ω_{v1}(F^1)) / \\sqrt{C}
                                                         (Eq. 4, N×M)

        P^V = α_1\\, \\mathrm{softmax}_M(Att^V)\\,
              \\mathrm{Flatten}(ω_{v2}(V))^T                (Eq. 5, N×C)

        F^2 = \\mathrm{Unflatten}(ω_{p3}(P)^T\\,
              \\mathrm{softmax}_N(Att^V))                   (Eq. 6, C×H×W)

        F = \\mathrm{LN}(F^1 + α_2 F^2)                    (Eq. 7)

    ω_{p2}, ω_{p3} are per-anchor linear maps (the paper's 1×1 convolutions);
    ω_{v1}, ω_{v2} are a 1×1 convolution followed by instance normalisation.
    ``LN`` normalises the channels of every pixel.

    Our readings, where the paper is not explicit:

    * One activation ``Att^V`` serves both directions ("bidirectional"):
      it is normalised over the pixels for the anchors (Eq. 5: each anchor
      pools the image) and over the anchors for the pixels (Eq. 6: each pixel
      gathers the anchors), as a cross-attention does in each direction.
    * ``V`` in Eq. 5 is the stage's output ``F¹`` unless the caller passes
      another map of the same shape.

    The cost is O(N·M·C + M·C²): linear in the number of image tokens M.

    Args:
        channels (int): C, the width of the vision stage (and of ``P``).
        alpha_init (float): Initial value of α₁ and α₂. Defaults to 1.0
            (ours).
        with_alpha1 (bool): Learn α₁; if False it is fixed to 1 (the paper's
            Table 5(b) ablation). Defaults to True.
        with_alpha2 (bool): Learn α₂; as ``with_alpha1``. Defaults to True.
        norm_cfg (dict): Norm after the 1×1 convolutions of ω_{v1}, ω_{v2}.
            Defaults to instance norm with affine parameters.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        channels: int,
        alpha_init: float = 1.0,
        with_alpha1: bool = True,
        with_alpha2: bool = True,
        norm_cfg: ConfigType = dict(type='IN', affine=True),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.anchor_key = nn.Linear(channels, channels)  # ω_p2
        self.anchor_value = nn.Linear(channels, channels)  # ω_p3
        self.visual_key = nn.Sequential(  # ω_v1
            nn.Conv2d(channels, channels, 1),
            build_norm_layer(norm_cfg, channels)[1],
        )
        self.visual_value = nn.Sequential(  # ω_v2
            nn.Conv2d(channels, channels, 1),
            build_norm_layer(norm_cfg, channels)[1],
        )
        self.norm = nn.LayerNorm(channels)
        for name, learn in (('alpha1', with_alpha1), ('alpha2', with_alpha2)):
            value = torch.tensor(float(alpha_init) if learn else 1.0)
            if learn:
                self.register_parameter(name, nn.Parameter(value))
            else:
                self.register_buffer(name, value, persistent=False)

    def activation(self, anchors: Tensor, visual: Tensor) -> Tensor:
        """Eq. 4: the anchor-pixel logits ``Att^V``.

        Args:
            anchors (Tensor): ``P^cross``, shape (B, N, C).
            visual (Tensor): ``F¹``, shape (B, C, H, W).

        Returns:
            Tensor: Shape (B, N, H·W), pixels in row-major order.
        """
        k = self.visual_key(visual).flatten(2)
        return self.anchor_key(anchors) @ k / math.sqrt(self.channels)

    def forward(
        self,
        anchors: Tensor,
        visual: Tensor,
        value: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Eq. 4-7.

        Args:
            anchors (Tensor): ``P^cross``, shape (B, N, C).
            visual (Tensor): ``F¹``, the stage's output, shape (B, C, H, W).
            value (Tensor, optional): ``V`` of Eq. 5, shape (B, C, H, W).
                Defaults to ``visual``.

        Returns:
            tuple[Tensor, Tensor]: The anchoring fusion feature ``F``,
            shape (B, C, H, W), and the visually activated anchors ``P^V``,
            shape (B, N, C).
        """
        value = visual if value is None else value
        att = self.activation(anchors, visual)
        v = self.visual_value(value).flatten(2)  # (B, C, M)
        anchors_v = self.alpha1 * (att.softmax(dim=-1) @ v.transpose(1, 2))
        del v  # free the (B, C, M) map before the next ones
        f2 = self.anchor_value(anchors).transpose(1, 2) @ att.softmax(dim=1)
        fused = torch.addcmul(visual, f2.view_as(visual), self.alpha2)
        del f2
        # LayerNorm over the channels; the result stays channels-last in
        # memory (a (B, C, H, W) view), which flattens to tokens for free
        fused = self.norm(fused.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return fused, anchors_v
