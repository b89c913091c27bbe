# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM anchor propagation to the next stage (Eq. 8)."""

from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig

SOURCES = ('cross', 'visual')


@MODELS.register_module()
class AnchorPropagation(BaseModule):
    """Builds the anchors ``P_i`` handed to the next stage.

    .. math::

        P_i = \\mathrm{LN}(P^{cross} + ω_{p4}(P^{cross}))            (Eq. 8)

    as the paper prints it (Sec. 3.4, "Propagation of Linguistic
    Knowledge"; ``source='cross'``, the default): a residual per-anchor
    linear map of the language-carrying anchors ``P^cross``, then a
    LayerNorm over the channels.

    ``source='visual'`` reads Eq. 8 as ``LN(P^cross + ω_{p4}(P^V))``, with
    the visually activated anchors ``P^V`` of Eq. 5. The text around Eq. 8
    supports it ("the region-aware anchor, interacting with visual
    features, combines with the P^cross and is propagated"), and so does
    Table 5(b), which ablates Eq. 5's α₁: under the printed form Eq. 5 feeds
    nothing.

    Worked example (the unit test's): with ω_{p4} the identity,
    ``P^cross = [1, 2, 4]`` gives ``LN([2, 4, 8])``; with ``'visual'`` and
    ``P^V = [0, 0, 3]``, ``LN([1, 2, 7])``.

    Args:
        channels (int): C_v, the width of the anchors.
        source (str): What ω_{p4} maps: ``'cross'`` (``P^cross``, Eq. 8 as
            printed) or ``'visual'`` (``P^V``). Defaults to ``'cross'``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        channels: int,
        source: str = 'cross',
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if source not in SOURCES:
            raise ValueError(
                f'source must be one of {SOURCES}, got {source!r}'
            )
        self.source = source
        self.proj = nn.Linear(channels, channels)  # ω_p4
        self.norm = nn.LayerNorm(channels)

    def forward(
        self, anchors_cross: Tensor, anchors_v: Optional[Tensor] = None
    ) -> Tensor:
        """Eq. 8.

        Args:
            anchors_cross (Tensor): ``P^cross``, shape (B, N, C).
            anchors_v (Tensor, optional): ``P^V``, shape (B, N, C); needed
                with ``source='visual'`` only.

        Returns:
            Tensor: ``P_i``, shape (B, N, C).
        """
        if self.source == 'cross':
            src = anchors_cross
        elif anchors_v is None:
            raise ValueError("source='visual' needs `anchors_v` (P^V)")
        else:
            src = anchors_v
        return self.norm(anchors_cross + self.proj(src))
