# Copyright (c) mmgres contributors. All rights reserved.
"""HuggingFace ``AutoTokenizer`` in the ``TOKENIZER`` registry."""

from mmgres.registry import TOKENIZER


@TOKENIZER.register_module('AutoTokenizer')
def build_auto_tokenizer(name_or_path: str, **kwargs):
    """Load a tokenizer with ``transformers.AutoTokenizer.from_pretrained``.

    Registered in ``TOKENIZER`` as ``'AutoTokenizer'``, as in mmpretrain:
    ``dict(type='AutoTokenizer', name_or_path='bert-base-uncased')``.

    Args:
        name_or_path (str): Hub name or local directory of the tokenizer.
        **kwargs: Passed to ``from_pretrained`` (e.g. ``use_fast=True``,
            ``legacy=True``).

    Returns:
        transformers.PreTrainedTokenizerBase: the tokenizer.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
