# Copyright (c) mmgres contributors. All rights reserved.
from .igvg import (
    AdaptiveQueryGenerator,
    DistScorePointSelector,
    InjectTextQuery,
    ScoreMapCrossAttention,
    ScoreTextSelector,
    TextToImageDecoderLayer,
    UNetMaskDecoder,
    indices_to_points,
    minimap_targets,
)
from .raam import (
    AnchorPropagation,
    L2VGate,
    LinguisticAnchorLearning,
    PixelWordAttentionFusion,
    RegionAwareAnchoringNetwork,
    VisualAnchorLearning,
)
from .text_conditioned_decoder import (
    TextConditionedDecoderLayer,
    TextConditionedTransformerDecoder,
)
from .word_attention import build_word_attention

__all__ = ['TextConditionedDecoderLayer', 'TextConditionedTransformerDecoder']
__all__ += [
    'AdaptiveQueryGenerator',
    'minimap_targets',
    'DistScorePointSelector',
    'indices_to_points',
    'InjectTextQuery',
    'ScoreMapCrossAttention',
    'ScoreTextSelector',
]
__all__ += [
    'AnchorPropagation',
    'L2VGate',
    'LinguisticAnchorLearning',
    'PixelWordAttentionFusion',
    'RegionAwareAnchoringNetwork',
    'VisualAnchorLearning',
]
__all__ += ['UNetMaskDecoder', 'build_word_attention']
__all__ += ['TextToImageDecoderLayer']
