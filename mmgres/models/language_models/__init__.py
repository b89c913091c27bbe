# Copyright (c) mmgres contributors. All rights reserved.
# build_wordpiece_tokenizer is re-exported for the modules that still import
# it from here; it lives in mmgres.models.tokenizers.
from mmgres.models.tokenizers import build_wordpiece_tokenizer

from .hf_text_encoder import (
    KNOWN_TEXT_ARCHS,
    HFTextEncoder,
    tiny_text_encoder_cfg,
)

__all__ = [
    'HFTextEncoder',
    'KNOWN_TEXT_ARCHS',
    'build_wordpiece_tokenizer',
    'tiny_text_encoder_cfg',
]
