# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG extensions for models trained from scratch on the synthetic
benchmark: a head with context instances and text-aware classification,
and text-reading variants of IGVG's global branch and decoder."""

from .extended_head import IGVGExtendedHead
from .sentence_no_target_branch import SentenceNoTargetBranch
from .text_deformable_decoder import (
    TextDeformableDetrDecoderLayer,
    TextDeformableDetrTransformerDecoder,
)
from .text_gated_unet import TextGatedUNetMaskDecoder
from .text_pooling import masked_text_pool

__all__ = [
    'IGVGExtendedHead',
    'SentenceNoTargetBranch',
    'TextDeformableDetrDecoderLayer',
    'TextDeformableDetrTransformerDecoder',
    'TextGatedUNetMaskDecoder',
    'masked_text_pool',
]
