# Copyright (c) mmgres contributors. All rights reserved.
"""Re-exports the word-level tokenizer for the modules that still import it
from here; it lives in :mod:`mmgres.models.tokenizers.word_level`."""

from mmgres.models.tokenizers.word_level import (
    LLAMA_STYLE_SPECIALS,
    build_word_tokenizer,
    split_words,
)

__all__ = ['LLAMA_STYLE_SPECIALS', 'build_word_tokenizer', 'split_words']
