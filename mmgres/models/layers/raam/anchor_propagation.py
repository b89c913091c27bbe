# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM anchor propagation to the next stage (Eq. 8)."""

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class AnchorPropagation(BaseModule):
    """Builds the anchors ``P_i`` handed to the next stage.

    .. math::

        P_i = \\mathrm{LN}(P^{cross} + ω_{p4}(P^V))             (Eq. 8, ours)

    The paper prints ``ω_{p4}(P^cross)``, but then ``P^V`` (Eq. 5) and its
    coefficient α₁ would feed nothing at all, while the text says "the
    region-aware anchor, interacting with visual features, combines with
    ``P^cross``" and Table 5(b) shows that α₁ matters. So the visually
    activated anchors ``P^V`` go through ω_{p4} (``source='visual'``, the
    default); ``source='cross'`` gives the equation as printed.

    Args:
        channels (int): C_v, the width of the anchors.
        source (str): ``'visual'`` (ω_{p4}(P^V)) or ``'cross'``
            (ω_{p4}(P^cross), as printed).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        channels: int,
        source: str = 'visual',
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if source not in ('visual', 'cross'):
            raise ValueError(f'Unknown source {source!r}')
        self.source = source
        self.proj = nn.Linear(channels, channels)  # ω_p4
        self.norm = nn.LayerNorm(channels)

    def forward(self, anchors_cross: Tensor, anchors_v: Tensor) -> Tensor:
        """Eq. 8.

        Args:
            anchors_cross (Tensor): ``P^cross``, shape (B, N, C).
            anchors_v (Tensor): ``P^V``, shape (B, N, C).

        Returns:
            Tensor: ``P_i``, shape (B, N, C).
        """
        src = anchors_v if self.source == 'visual' else anchors_cross
        return self.norm(anchors_cross + self.proj(src))
