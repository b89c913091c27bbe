# Copyright (c) mmgres contributors. All rights reserved.
"""Tokenizers that models build from ``tokenizer=dict(type=...)``, through
the ``TOKENIZER`` registry (:mod:`mmgres.registry`).

- ``AutoTokenizer``: ``transformers.AutoTokenizer.from_pretrained``;
- ``BEiT3Tokenizer``: BEiT-3's sentencepiece model (``beit3.spm``);
- ``WordPieceTokenizer``: BERT-style WordPiece over a word list, in memory;
- ``WordLevelTokenizer``: Llama-style word-level over a word list, in
  memory.

The synthetic benchmark registers tokenizers over its own word list
(:mod:`mmgres.datasets.synthetic.vocab`).
"""

from .beit3 import build_beit3_tokenizer
from .hf import build_auto_tokenizer
from .word_level import (
    LLAMA_STYLE_SPECIALS,
    build_word_tokenizer,
    split_words,
    with_leading_words,
)
from .wordpiece import WORDPIECE_SPECIALS, build_wordpiece_tokenizer

__all__ = [
    'LLAMA_STYLE_SPECIALS',
    'WORDPIECE_SPECIALS',
    'build_auto_tokenizer',
    'build_beit3_tokenizer',
    'build_word_tokenizer',
    'build_wordpiece_tokenizer',
    'split_words',
    'with_leading_words',
]
