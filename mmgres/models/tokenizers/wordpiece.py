# Copyright (c) mmgres contributors. All rights reserved.
"""An in-memory BERT-style WordPiece tokenizer over a word list."""

from typing import Sequence

from mmgres.registry import TOKENIZER

#: BERT's special tokens, ids 0-4 of :func:`build_wordpiece_tokenizer`.
WORDPIECE_SPECIALS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')


@TOKENIZER.register_module('WordPieceTokenizer')
def build_wordpiece_tokenizer(vocab: Sequence[str], lowercase: bool = True):
    """Build a BERT-style WordPiece tokenizer from a word list, in memory.

    Registered in ``TOKENIZER`` as ``'WordPieceTokenizer'``.

    For tiny configs and tests: nothing is read from the hub or the disk.
    The special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` take ids 0-4, then
    ``vocab`` follows in order (duplicates dropped). Text is normalised and
    split as by ``BertTokenizerFast`` (lower-casing, accents stripped,
    punctuation split off), so on a ``vocab.txt`` holding the same tokens
    in the same order both give the same ids. A word outside ``vocab``
    becomes ``[UNK]``, and a warning names it, once per text. The longest
    sequence it allows is 512 tokens (BERT's).

    Example:
        With ``vocab=['the', 'red', 'circle']`` (ids 5, 6, 7),
        ``'The red dog'`` is ``[CLS] the red [UNK] [SEP]``, ids
        ``[2, 5, 6, 1, 3]``.

    Args:
        vocab (Sequence[str]): Words of the vocabulary.
        lowercase (bool): Lower-case the text first. Defaults to True.

    Returns:
        WordListTokenizerFast: the tokenizer (a
        ``transformers.PreTrainedTokenizerFast``).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    from .word_list import WordListTokenizerFast

    if isinstance(vocab, str):
        raise TypeError('vocab must be a sequence of words, not one string.')
    words = list(dict.fromkeys([*WORDPIECE_SPECIALS, *vocab]))
    tok = Tokenizer(
        models.WordPiece(
            {w: i for i, w in enumerate(words)}, unk_token='[UNK]'
        )
    )
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = words.index('[CLS]'), words.index('[SEP]')
    tok.post_processor = TemplateProcessing(
        single='[CLS] $A [SEP]',
        pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', cls_id), ('[SEP]', sep_id)],
    )
    return WordListTokenizerFast(
        tokenizer_object=tok,
        unk_token='[UNK]',
        pad_token='[PAD]',
        cls_token='[CLS]',
        sep_token='[SEP]',
        mask_token='[MASK]',
        model_max_length=512,
    )
