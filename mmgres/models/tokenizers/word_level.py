# Copyright (c) mmgres contributors. All rights reserved.
"""An in-memory word-level tokenizer for tiny MLLM configs and tests."""

import re
from typing import Iterable, List, Sequence

from mmgres.registry import TOKENIZER

# One token per run of word characters or per punctuation character.
_WORD_RE = re.compile(r'\w+|[^\w\s]')

LLAMA_STYLE_SPECIALS = ('<unk>', '<s>', '</s>')


def split_words(text: str) -> List[str]:
    """Split text the way :func:`build_word_tokenizer` does, lower-cased.

    Example:
        >>> split_words("USER: the human's circle?")
        ['user', ':', 'the', 'human', "'", 's', 'circle', '?']
    """
    return _WORD_RE.findall(text.lower())


@TOKENIZER.register_module('WordLevelTokenizer')
def build_word_tokenizer(
    words: Iterable[str],
    specials: Sequence[str] = LLAMA_STYLE_SPECIALS,
    model_max_length: int = 2048,
):
    """Build a Llama-style word-level tokenizer in memory.

    Registered in ``TOKENIZER`` as ``'WordLevelTokenizer'``.

    Nothing is read from the hub or the disk. Text is lower-cased and split
    into runs of word characters and single punctuation characters (see
    :func:`split_words`); every piece is one token, unknown pieces become
    ``<unk>``, and a warning names them, once per text (see
    :class:`~mmgres.models.tokenizers.word_list.WordListTokenizerFast`).
    Like Llama's tokenizer it has ``<unk>`` (id 0), ``<s>`` (BOS, id 1) and
    ``</s>`` (EOS, id 2) and no padding token. Tokens added later
    with ``normalized=False`` (``[SEG]``, ``<image>``) are matched on the raw
    text before lower-casing.

    Example:
        ``build_word_tokenizer(['the red circle', 'a cat.'])`` has the
        vocabulary ``<unk> <s> </s> the red circle a cat .`` (ids 0-8), and
        reads ``'The dog.'`` as ids ``[3, 0, 8]``.

    Args:
        words (Iterable[str]): Vocabulary; pieces of each entry as split by
            :func:`split_words` are added, duplicates dropped, in order.
        specials (Sequence[str]): Unknown, BOS and EOS tokens, in this order.
        model_max_length (int): Longest sequence the tokenizer allows.

    Returns:
        WordListTokenizerFast: the tokenizer (a
        ``transformers.PreTrainedTokenizerFast``), with offsets
        (``return_offsets_mapping=True``) available.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers
    from tokenizers import pre_tokenizers as pre

    from .word_list import WordListTokenizerFast

    if isinstance(words, str):
        raise TypeError('words must be a sequence of words, not one string.')
    if len(specials) != 3:
        raise ValueError(
            f'specials must be (unk, bos, eos), got {tuple(specials)}.'
        )
    pieces = [p for w in words for p in split_words(str(w))]
    vocab = list(dict.fromkeys([*specials, *pieces]))
    tok = Tokenizer(
        models.WordLevel(
            {w: i for i, w in enumerate(vocab)}, unk_token=specials[0]
        )
    )
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre.Sequence(
        [pre.WhitespaceSplit(), pre.Split(Regex(r'[^\w\s]'), 'isolated')]
    )
    return WordListTokenizerFast(
        tokenizer_object=tok,
        unk_token=specials[0],
        bos_token=specials[1],
        eos_token=specials[2],
        model_max_length=model_max_length,
    )


def with_leading_words(tokenizer, words: Iterable[str]):
    """The word-level tokenizer ``tokenizer`` with ``words`` put first.

    For a model that brings its own closed set of words (e.g. the words of
    a dialogue template) to a word-level tokenizer built from a config: the
    result is exactly ``build_word_tokenizer([*words, *old_words])`` with
    the same specials and ``model_max_length``, ``old_words`` being the
    tokenizer's words in id order. ``tokenizer`` is not changed.

    Example:
        ``with_leading_words(build_word_tokenizer(['red', 'circle']),
        ['the circle'])`` has the vocabulary
        ``<unk> <s> </s> the circle red``.

    Args:
        tokenizer: A tokenizer made by :func:`build_word_tokenizer`, without
            added tokens.
        words (Iterable[str]): Words to put first, split as by
            :func:`split_words`.

    Returns:
        WordListTokenizerFast: a new tokenizer.
    """
    from tokenizers import models

    backend = getattr(tokenizer, 'backend_tokenizer', None)
    if backend is None or not isinstance(backend.model, models.WordLevel):
        raise TypeError(
            'with_leading_words needs a word-level tokenizer '
            f'(WordLevelTokenizer), got {type(tokenizer).__name__}.'
        )
    vocab = backend.get_vocab(with_added_tokens=False)
    if len(tokenizer) != len(vocab):
        raise ValueError(
            'with_leading_words: the tokenizer has added tokens '
            f'({len(tokenizer) - len(vocab)}); put the words first before '
            'adding tokens.'
        )
    specials = (tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token)
    old = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return build_word_tokenizer(
        [*words, *(w for w in old if w not in specials)],
        specials=specials,
        model_max_length=tokenizer.model_max_length,
    )
