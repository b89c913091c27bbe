# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's blocks: the attention-guided query generation (STS, score-map
attention, DPS, ITQ) and the UNet decoder of the global branch."""

from .aqg import AdaptiveQueryGenerator, minimap_targets
from .dist_score_point_selector import (
    DistScorePointSelector,
    indices_to_points,
)
from .inject_text_query import InjectTextQuery
from .score_map_cross_attention import ScoreMapCrossAttention
from .score_text_selector import ScoreTextSelector
from .text_to_image_decoder_layer import TextToImageDecoderLayer
from .unet_decoder import UNetMaskDecoder

__all__ = [
    'AdaptiveQueryGenerator',
    'DistScorePointSelector',
    'InjectTextQuery',
    'ScoreMapCrossAttention',
    'ScoreTextSelector',
    'TextToImageDecoderLayer',
    'UNetMaskDecoder',
    'indices_to_points',
    'minimap_targets',
]
