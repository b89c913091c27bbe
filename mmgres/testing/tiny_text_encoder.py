# Copyright (c) mmgres contributors. All rights reserved.
"""A tiny random BERT text encoder config for tests."""

from typing import Optional, Sequence

from mmgres.models.tokenizers import WORDPIECE_SPECIALS


def tiny_text_encoder_cfg(
    vocab: Optional[Sequence[str]] = None,
    hidden_size: int = 32,
    num_layers: int = 2,
    **kwargs,
) -> dict:
    """Config dict of a tiny random BERT (:class:`HFTextEncoder`) for tests,
    with an in-memory WordPiece tokenizer over ``vocab``.

    The embedding table has ``max(64, len(vocab) + 5)`` rows (the 5 BERT
    special tokens come first); ``kwargs`` override any top-level key, e.g.
    ``tokenizer=dict(type='SyntheticWordPieceTokenizer')``.
    """
    vocab = list(vocab or [])
    cfg = dict(
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=max(64, len(vocab) + len(WORDPIECE_SPECIALS)),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=max(1, hidden_size // 16),
            intermediate_size=hidden_size * 2,
            max_position_embeddings=64,
        ),
        pretrained=False,
        tokenizer=dict(type='WordPieceTokenizer', vocab=vocab),
    )
    cfg.update(kwargs)
    return cfg
