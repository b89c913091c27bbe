# Copyright (c) mmgres contributors. All rights reserved.
from .aqg import AdaptiveQueryGenerator, minimap_targets
from .conv_stem import ConvStem
from .dist_score_point_selector import (
    DistScorePointSelector,
    indices_to_points,
)
from .inject_text_query import InjectTextQuery
from .raam import (
    AnchorPropagation,
    L2VGate,
    LinguisticAnchorLearning,
    PixelWordAttentionFusion,
    RegionAwareAnchoringNetwork,
    VisualAnchorLearning,
)
from .relative_position_attention import RelativePositionQueryAttention
from .score_map_cross_attention import ScoreMapCrossAttention
from .score_text_selector import ScoreTextSelector
from .text_conditioned_decoder import (
    TextConditionedDecoderLayer,
    TextConditionedTransformerDecoder,
)
from .text_deformable_decoder import (
    TextDeformableDetrDecoderLayer,
    TextDeformableDetrTransformerDecoder,
)
from .text_pooling import masked_text_pool
from .text_to_image_decoder_layer import TextToImageDecoderLayer
from .unet_decoder import UNetMaskDecoder
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
__all__ += ['UNetMaskDecoder', 'build_word_attention', 'masked_text_pool']
__all__ += ['ConvStem']
__all__ += [
    'TextDeformableDetrDecoderLayer',
    'TextDeformableDetrTransformerDecoder',
]
__all__ += ['RelativePositionQueryAttention']
__all__ += ['TextToImageDecoderLayer']
