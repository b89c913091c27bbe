# Copyright (c) mmgres contributors. All rights reserved.
from .hf_text_encoder import (
    KNOWN_TEXT_ARCHS,
    HFTextEncoder,
    build_wordpiece_tokenizer,
    tiny_text_encoder_cfg,
)

__all__ = [
    'HFTextEncoder',
    'KNOWN_TEXT_ARCHS',
    'build_wordpiece_tokenizer',
    'tiny_text_encoder_cfg',
]
