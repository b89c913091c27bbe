# Copyright (c) mmgres contributors. All rights reserved.
"""An in-memory word-level tokenizer for tiny MLLM configs and tests."""

import re
from typing import Iterable, List, Sequence

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


def build_word_tokenizer(
    words: Iterable[str],
    specials: Sequence[str] = LLAMA_STYLE_SPECIALS,
    model_max_length: int = 2048,
):
    """Build a Llama-style word-level tokenizer in memory.

    Nothing is read from the hub or the disk. Text is lower-cased and split
    into runs of word characters and single punctuation characters (see
    :func:`split_words`); every piece is one token, unknown pieces become
    ``<unk>``, and a warning names them, once per text (see
    :class:`~mmgres.models.utils.word_list_tokenizer.WordListTokenizerFast`).
    Like Llama's tokenizer it has ``<unk>`` (id 0), ``<s>`` (BOS, id 1) and
    ``</s>`` (EOS, id 2) and no padding token. Tokens added later
    with ``normalized=False`` (``[SEG]``, ``<image>``) are matched on the raw
    text before lower-casing.

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

    from mmgres.models.utils.word_list_tokenizer import WordListTokenizerFast

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
