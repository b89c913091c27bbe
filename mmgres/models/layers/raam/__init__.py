# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's vision-language interaction blocks."""

from .anchor_propagation import AnchorPropagation
from .l2v_gate import L2VGate
from .linguistic_anchor import LinguisticAnchorLearning, masked_softmax
from .pixel_word_attention import PixelWordAttentionFusion
from .region_aware_anchoring import RegionAwareAnchoringNetwork
from .visual_anchor import VisualAnchorLearning

__all__ = [
    'AnchorPropagation',
    'L2VGate',
    'LinguisticAnchorLearning',
    'PixelWordAttentionFusion',
    'RegionAwareAnchoringNetwork',
    'VisualAnchorLearning',
    'masked_softmax',
]
