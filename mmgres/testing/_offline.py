# Copyright (c) mmgres contributors. All rights reserved.
from typing import Sequence

from mmengine.logging import print_log


def ensure_offline_tokenizer(model, texts: Sequence[str]) -> bool:
    """Give ``model.text_encoder`` an in-memory WordPiece tokenizer over the
    words of ``texts`` if its real tokenizer cannot be loaded (no hub, no
    local copy). For analysis tools, where only the token count matters: one
    token per word, as BERT's tokenizer gives for plain words.

    Returns:
        bool: True if the stand-in tokenizer was installed.
    """
    from mmgres.registry import TOKENIZER

    encoder = getattr(model, 'text_encoder', None)
    if encoder is None:
        return False
    try:
        encoder.tokenizer  # noqa: B018 (loads it)
        return False
    except OSError:
        words = sorted({w for t in texts for w in t.lower().split()})
        encoder._tokenizer = TOKENIZER.build(
            dict(type='WordPieceTokenizer', vocab=words)
        )
        print_log(
            f'Tokenizer {encoder.tokenizer_cfg} not available offline: '
            'using a word-level stand-in (same token count for plain words).',
            logger='current',
        )
        return True
