# Copyright (c) mmgres contributors. All rights reserved.
"""BEiT-3's sentencepiece tokenizer, as the official code reads it."""

import os.path as osp

from mmgres.registry import TOKENIZER

#: ``model_max_length`` of the BEiT-3 tokenizer. Ours: the length of BEiT-3's
#: text position table (``max_source_positions``); the official code's
#: ``XLMRobertaTokenizer(vocab_file)`` sets no limit.
BEIT3_MAX_LENGTH = 1024


@TOKENIZER.register_module('BEiT3Tokenizer')
def build_beit3_tokenizer(vocab_file: str):
    """Load BEiT-3's sentencepiece tokenizer (``beit3.spm``) from a file.

    Registered in ``TOKENIZER`` as ``'BEiT3Tokenizer'``.

    The official BEiT-3 code uses ``XLMRobertaTokenizer(vocab_file)``: ids
    follow fairseq's dictionary, ``<s>=0, <pad>=1, </s>=2, <unk>=3``, then
    sentencepiece piece ``k`` (k >= 3) gets id ``k + 1``, and ``<mask>`` comes
    last. transformers 4.x does this with ``XLMRobertaTokenizer(vocab_file=)``
    directly. transformers 5.x ignores ``vocab_file`` there (it would return
    a 5-token vocabulary), so the sentencepiece proto is converted with
    transformers' own ``SentencePieceExtractor`` and ``XLMRobertaConverter``
    (needs ``sentencepiece`` and ``protobuf``). The file name may end in
    ``.spm`` or ``.model``. The longest sequence it allows is
    :data:`BEIT3_MAX_LENGTH`.

    Args:
        vocab_file (str): Path of the sentencepiece model.

    Returns:
        transformers.XLMRobertaTokenizer: the tokenizer.
    """
    from transformers import XLMRobertaTokenizer

    vocab_file = osp.expanduser(str(vocab_file))
    if not osp.isfile(vocab_file):
        raise FileNotFoundError(
            f'BEiT-3 sentencepiece tokenizer not found: {vocab_file}'
        )
    try:
        if hasattr(XLMRobertaTokenizer, 'convert_to_native_format'):
            from tokenizers.models import Unigram
            from transformers.convert_slow_tokenizer import (
                SentencePieceExtractor,
                XLMRobertaConverter,
            )

            kwargs = SentencePieceExtractor(vocab_file).extract(Unigram)
            kwargs = XLMRobertaConverter.convert_from_spm(**kwargs)
            tok = XLMRobertaTokenizer(
                vocab_file=vocab_file,
                model_max_length=BEIT3_MAX_LENGTH,
                **kwargs,
            )
        else:  # transformers 4.x: the sentencepiece-backed slow tokenizer
            tok = XLMRobertaTokenizer(
                vocab_file=vocab_file, model_max_length=BEIT3_MAX_LENGTH
            )
    except ImportError:  # sentencepiece / protobuf missing: say so as is
        raise
    except Exception as e:
        raise RuntimeError(
            f'Cannot read the sentencepiece tokenizer {vocab_file}: '
            f'{type(e).__name__}: {e}'
        ) from e
    return tok
