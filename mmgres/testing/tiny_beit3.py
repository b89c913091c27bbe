# Copyright (c) mmgres contributors. All rights reserved.
"""A tiny random BEiT-3 config for tests."""

from typing import Optional, Sequence


def tiny_beit3_cfg(vocab: Optional[Sequence[str]] = None, **kwargs) -> dict:
    """Config dict of a tiny random BEiT-3 for tests and tiny configs:
    64 channels, 2 layers, 64-pixel images, projections to 32 channels.

    Its tokenizer is an in-memory WordPiece one over ``vocab``, or, when
    ``vocab`` is None, over the synthetic benchmark's words
    (``'SyntheticWordPieceTokenizer'``); ``kwargs`` override any top-level
    key, e.g. ``tokenizer=dict(type='BEiT3Tokenizer', vocab_file=...)``.
    """
    if vocab is None:
        tokenizer = dict(type='SyntheticWordPieceTokenizer')
    else:
        tokenizer = dict(type='WordPieceTokenizer', vocab=list(vocab))
    cfg = dict(
        type='BEiT3',
        arch='tiny',
        img_size=64,
        patch_size=16,
        out_channels=32,
        tokenizer=tokenizer,
        max_length=20,
    )
    cfg.update(kwargs)
    return cfg
