# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM visual anchor learning: anchors and pixels activate each other
(Eq. 4-7)."""

import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class VisualAnchorLearning(BaseModule):
    """Anchors activate the pixels (and, optionally, the pixels the anchors):
    RaAM's visual anchor learning.

    With the language-carrying anchors ``P = P^cross`` (N×C) and the
    stage's output ``F¹`` (C×H×W), M = H·W:

    .. math::

        Att^V = ω_{p2}(P)\\, \\mathrm{Flatten}(ω_{v1}(F^1)) / \\sqrt{C}
                                                         (Eq. 4, N×M)

        P^V = α_1\\, \\mathrm{softmax}_M(Att^V)\\,
              \\mathrm{Flatten}(ω_{v2}(F^1))^T              (Eq. 5, N×C)

        F^2 = \\mathrm{Unflatten}(ω_{p3}(P)^T\\,
              \\mathrm{softmax}_N(Att^V))                   (Eq. 6, C×H×W)

        F = \\mathrm{LN}(F^1 + α_2 F^2)                    (Eq. 7)

    ω_{p2}, ω_{p3} are per-anchor linear maps (the paper's 1×1 convolutions);
    ω_{v1}, ω_{v2} are a 1×1 convolution followed by instance normalisation
    with affine parameters. ``LN`` normalises the channels of every pixel.
    Where the paper is not explicit (ours):

    * the softmax of Eq. 6 runs over the anchors, so that every pixel
      gathers a convex mix of them; that of Eq. 5 over the pixels, so that
      every anchor pools the image: one ``Att^V`` serves both directions
      (the paper's "bidirectional" activation);
    * ``V_i`` of Eq. 5 is the stage's output ``F¹``.

    Eq. 5 is computed only with ``visual_anchors=True``: the printed Eq. 8
    propagates ``ω_{p4}(P^cross)`` (:class:`AnchorPropagation`), so by
    default nothing reads ``P^V``, and ω_{v2} and α₁ are not built (they
    would never get a gradient, and DDP would then need
    ``find_unused_parameters``).

    The cost is O(N·M·C + M·C²), linear in the number of image tokens M;
    Eq. 5 adds M·C² + N·M·C multiply-adds.

    Args:
        channels (int): C, the width of the vision stage (and of ``P``).
        visual_anchors (bool): Compute Eq. 5's ``P^V`` (builds ω_{v2} as
            ``visual_value`` and α₁ as ``alpha1``), for Eq. 8 read as
            ``ω_{p4}(P^V)``. Defaults to False.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        channels: int,
        visual_anchors: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.visual_anchors = visual_anchors
        self.anchor_key = nn.Linear(channels, channels)  # ω_p2
        self.anchor_value = nn.Linear(channels, channels)  # ω_p3
        self.visual_key = nn.Sequential(  # ω_v1
            nn.Conv2d(channels, channels, 1),
            nn.InstanceNorm2d(channels, affine=True),
        )
        if visual_anchors:
            self.visual_value = nn.Sequential(  # ω_v2, "same as ω_v1"
                nn.Conv2d(channels, channels, 1),
                nn.InstanceNorm2d(channels, affine=True),
            )
            # α₁ of Eq. 5, learnt; starts at 1 (ours: the paper gives no
            # value)
            self.alpha1 = nn.Parameter(torch.tensor(1.0))
        self.norm = nn.LayerNorm(channels)
        # α₂ of Eq. 7, learnt; starts at 1 (ours: the paper gives no value)
        self.alpha2 = nn.Parameter(torch.tensor(1.0))

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
        self, anchors: Tensor, visual: Tensor
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Eq. 4-7 (Eq. 5 only with ``visual_anchors``).

        Args:
            anchors (Tensor): ``P^cross``, shape (B, N, C).
            visual (Tensor): ``F¹``, the stage's output, shape (B, C, H, W).

        Returns:
            tuple[Tensor, Tensor | None]: The anchoring fusion feature
            ``F``, shape (B, C, H, W), and the visually activated anchors
            ``P^V``, shape (B, N, C), or None without ``visual_anchors``.
        """
        att = self.activation(anchors, visual)
        anchors_v = None
        if self.visual_anchors:
            v = self.visual_value(visual).flatten(2)  # (B, C, M)
            anchors_v = self.alpha1 * (att.softmax(dim=-1) @ v.transpose(1, 2))
            del v  # free the (B, C, M) map before the next ones
        f2 = self.anchor_value(anchors).transpose(1, 2) @ att.softmax(dim=1)
        fused = torch.addcmul(visual, f2.view_as(visual), self.alpha2)
        del f2
        # LayerNorm over the channels; the result stays channels-last in
        # memory (a (B, C, H, W) view), which flattens to tokens for free
        fused = self.norm(fused.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return fused, anchors_v
