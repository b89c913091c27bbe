# Copyright (c) mmgres contributors. All rights reserved.
"""One stage of RaAM's Region-aware Anchoring Network (Eq. 1-8)."""

from typing import Optional, Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig

from .anchor_propagation import SOURCES, AnchorPropagation
from .l2v_gate import L2VGate
from .linguistic_anchor import LinguisticAnchorLearning
from .visual_anchor import VisualAnchorLearning


@MODELS.register_module()
class RegionAwareAnchoringNetwork(BaseModule):
    """The anchor-mediated vision-language interaction of one stage.

    Given the stage's output ``F¹``, the words ``L`` and the incoming anchors
    ``P_{i-1}`` (one per image region), it runs

    1. linguistic anchor learning, Eq. 1-2 (:class:`LinguisticAnchorLearning`):
       ``P^L``;
    2. the L2V gate, Eq. 3 (:class:`L2VGate`): ``P^cross``;
    3. visual anchor learning, Eq. 4-7 (:class:`VisualAnchorLearning`):
       the fused feature ``F_i`` and, for ``propagate_from='visual'`` only,
       Eq. 5's visually activated anchors ``P^V``;
    4. anchor propagation, Eq. 8 (:class:`AnchorPropagation`):
       ``P_i = LN(P^cross + ω_{p4}(P^cross))`` as printed (the default), or
       ``LN(P^cross + ω_{p4}(P^V))`` with ``propagate_from='visual'``, the
       reading that the text around Eq. 8 and Table 5(b)'s α₁ support.
       Eq. 5 (ω_{v2}, α₁) exists only then: under the printed form it
       would feed nothing.

    Language never touches the pixels directly: the words reach the N
    anchors (O(N·T)), the anchors reach the pixels (O(N·M)), so the cost is
    linear in M + T instead of the O(M·T) of pixel-word attention
    (:class:`PixelWordAttentionFusion`, which has the same interface).

    Anchor widths (ours; the paper's equations assume C_v = C_l, as with
    ViT-B and BERT-base): incoming anchors of another width than C_l (e.g.
    a Swin stage's anchors) are first mapped to C_l by a linear layer. An
    optional ``anchor_embed`` (the fresh learnable anchors of the first J
    stages, see :class:`AnchoredVisionBackbone`) is added after that map.

    Args:
        visual_channels (int): C_v, the width of the stage's features.
        text_channels (int): C_l, the width of the words.
        anchor_channels (int, optional): Width of the incoming anchors.
            Defaults to ``text_channels``.
        use_l2v_gate (bool): Use the L2V gate; False gives the "Linear"
            row of Table 5(b). Defaults to True.
        propagate_from (str): What ω_{p4} of Eq. 8 maps: ``'cross'``
            (``P^cross``, as printed) or ``'visual'`` (``P^V`` of Eq. 5).
            Defaults to ``'cross'``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        visual_channels: int,
        text_channels: int,
        anchor_channels: Optional[int] = None,
        use_l2v_gate: bool = True,
        propagate_from: str = 'cross',
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if propagate_from not in SOURCES:
            raise ValueError(
                f'propagate_from must be one of {SOURCES}, '
                f'got {propagate_from!r}'
            )
        anchor_channels = anchor_channels or text_channels
        self.visual_channels = visual_channels
        self.text_channels = text_channels
        self.anchor_channels = anchor_channels
        if anchor_channels == text_channels:
            self.anchor_in = nn.Identity()
        else:
            self.anchor_in = nn.Linear(anchor_channels, text_channels)
        self.linguistic = LinguisticAnchorLearning(text_channels)
        self.l2v_gate = L2VGate(
            text_channels, visual_channels, use_gate=use_l2v_gate
        )
        self.visual = VisualAnchorLearning(
            visual_channels, visual_anchors=propagate_from == 'visual'
        )
        self.propagation = AnchorPropagation(
            visual_channels, source=propagate_from
        )

    def forward(
        self,
        visual: Tensor,
        text: Tensor,
        text_padding_mask: Optional[Tensor] = None,
        anchors: Optional[Tensor] = None,
        anchor_embed: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """Run Eq. 1-8 for one stage (Eq. 5 with ``'visual'`` only).

        Args:
            visual (Tensor): ``F¹``, the stage's output, (B, C_v, H, W).
            text (Tensor): Word features ``L``, shape (B, T, C_l).
            text_padding_mask (Tensor, optional): (B, T), True for padding.
            anchors (Tensor, optional): ``P_{i-1}``, shape
                (B, N, anchor_channels). At least one of ``anchors`` and
                ``anchor_embed`` is needed.
            anchor_embed (Tensor, optional): Fresh anchors (N, C_l) or
                (B, N, C_l), added to the (mapped) incoming anchors.

        Returns:
            tuple[Tensor, Tensor]: The anchoring fusion feature ``F_i``
            (B, C_v, H, W) and the anchors ``P_i`` (B, N, C_v) for the next
            stage.
        """
        if anchors is None and anchor_embed is None:
            raise ValueError('Give `anchors`, `anchor_embed` or both.')
        if anchors is None:
            prev = anchor_embed.expand(visual.shape[0], -1, -1)
        else:
            prev = self.anchor_in(anchors)
            if anchor_embed is not None:
                prev = prev + anchor_embed
        anchors_l = self.linguistic(prev, text, text_padding_mask)
        anchors_cross = self.l2v_gate(anchors_l, prev)
        fused, anchors_v = self.visual(anchors_cross, visual)
        return fused, self.propagation(anchors_cross, anchors_v)
