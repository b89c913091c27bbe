# Copyright (c) mmgres contributors. All rights reserved.
from .llava import KNOWN_LLAVA_ARCHS, LlavaMLLM, tiny_llava_cfg
from .word_tokenizer import build_word_tokenizer, split_words

__all__ = [
    'LlavaMLLM',
    'KNOWN_LLAVA_ARCHS',
    'tiny_llava_cfg',
    'build_word_tokenizer',
    'split_words',
]
