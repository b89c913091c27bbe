# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM's Language-to-Vision (L2V) gate (Eq. 3)."""

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class L2VGate(BaseModule):
    """Regulates how much language the anchors carry to the vision side.

    .. math::

        P^{cross} = \\mathrm{Linear}(γ(P^L) ⊙ P^L + P_{i-1})     (Eq. 3)

    where ``γ`` is conv1×1 → ReLU → conv1×1 → tanh over the channels of
    each anchor, so every element of ``P^L`` is rescaled by a factor in
    (-1, 1) learnt from ``P^L`` itself, and ``Linear`` maps the text width
    C_l to the width C_v of the vision stage.

    With ``use_gate=False`` the gate is the identity (γ ≡ 1):
    ``P^cross = Linear(P^L + P_{i-1})``, the "Linear" row of the paper's
    Table 5(b) ablation.

    The hidden width of γ, between its two 1×1 convolutions, is
    ``in_channels`` (ours: the paper does not give it).

    Worked example (``in_channels = out_channels = 2``, the one of the unit
    test): with ``P^L = [1, -1]``, ``P_{i-1} = [.5, .5]``,
    first conv ``W1 = [[1, 1], [0, -1]]``, second conv ``W2 = [[0, 2],
    [1, 0]]``, zero biases and ``Linear`` ``W = [[1, 0], [1, 1]]``,
    ``b = [0, -1]``: ``W1 P^L = [0, 1]``, ReLU ``[0, 1]``, ``W2 · = [2, 0]``,
    tanh ``[0.9640, 0]``; times ``P^L``: ``[0.9640, 0]``; plus ``P_{i-1}``:
    ``[1.4640, 0.5]``; ``Linear``: ``[1.4640, 0.9640]``.

    Args:
        in_channels (int): C_l, the width of ``P^L`` and ``P_{i-1}``.
        out_channels (int): C_v, the width of the vision stage.
        use_gate (bool): Apply γ. Defaults to True.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        use_gate: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.use_gate = use_gate
        if use_gate:
            self.gamma = nn.Sequential(
                nn.Conv1d(in_channels, in_channels, 1),
                nn.ReLU(inplace=True),
                nn.Conv1d(in_channels, in_channels, 1),
                nn.Tanh(),
            )
        self.proj = nn.Linear(in_channels, out_channels)

    def gate(self, anchors_l: Tensor) -> Tensor:
        """``γ(P^L)``: shape (B, N, C_l), values in (-1, 1)."""
        return self.gamma(anchors_l.transpose(1, 2)).transpose(1, 2)

    def forward(self, anchors_l: Tensor, anchors_prev: Tensor) -> Tensor:
        """Eq. 3.

        Args:
            anchors_l (Tensor): ``P^L`` of Eq. 2, shape (B, N, C_l).
            anchors_prev (Tensor): ``P_{i-1}``, shape (B, N, C_l).

        Returns:
            Tensor: ``P^cross``, shape (B, N, C_v).
        """
        gated = (
            self.gate(anchors_l) * anchors_l if self.use_gate else anchors_l
        )
        return self.proj(gated + anchors_prev)
