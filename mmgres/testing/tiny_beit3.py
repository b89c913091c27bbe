# Copyright (c) mmgres contributors. All rights reserved.
"""A tiny random BEiT-3 config for tests."""

from typing import List, Union


def tiny_beit3_cfg(
    vocab: Union[List[str], str, None] = 'synthetic', **kwargs
) -> dict:
    """Config dict of a tiny random BEiT-3 for tests and tiny configs:
    64 channels, 2 layers, 64-pixel images, projections to 32 channels, an
    in-memory WordPiece tokenizer over ``vocab`` (None: give ``tokenizer``
    in ``kwargs``)."""
    cfg = dict(
        type='BEiT3',
        arch='tiny',
        img_size=64,
        patch_size=16,
        out_channels=32,
        vocab=vocab,
        max_length=20,
    )
    cfg.update(kwargs)
    return cfg
