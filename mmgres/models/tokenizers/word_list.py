# Copyright (c) mmgres contributors. All rights reserved.
"""A fast tokenizer over a word list that says which words it lacks.

The in-memory tokenizers of the tiny configs (``WordLevelTokenizer``,
``WordPieceTokenizer``) know only their word list: every other
word becomes the unknown token, so with a list that lacks ``a`` and
``dog``, "a dog on the left" is read as ``[UNK] [UNK] on the left``.
:class:`WordListTokenizerFast` logs a warning that names those words, once
per text.
"""

import logging
from collections import OrderedDict
from typing import List

from mmengine.logging import print_log
from transformers import PreTrainedTokenizerFast


def _texts(text, split_into_words: bool) -> List[str]:
    """The strings of a tokenizer input (a text, a batch, pairs, or words
    when ``split_into_words``)."""
    if isinstance(text, str):
        return [text]
    if not isinstance(text, (list, tuple)):
        return []
    if split_into_words and text and all(isinstance(t, str) for t in text):
        return [' '.join(text)]
    return [s for t in text for s in _texts(t, split_into_words)]


class WordListTokenizerFast(PreTrainedTokenizerFast):
    """:class:`transformers.PreTrainedTokenizerFast` that warns about the
    words it does not know.

    Each text given to the tokenizer (``tokenizer(texts)``, ``encode``,
    ``tokenize``) is checked; when some of its words become the unknown
    token, a warning names them through mmengine's current logger. A text
    is warned about once: the last :attr:`max_remembered` texts warned
    about are remembered, the oldest forgotten first.
    """

    #: How many warned-about texts are remembered.
    max_remembered = 10000

    def unknown_words(self, text: str) -> List[str]:
        """The words of ``text`` that become the unknown token, in order,
        each once, as written in ``text``."""
        unk = self.unk_token
        if unk is None:
            return []
        enc = self.backend_tokenizer.encode(text, add_special_tokens=False)
        words = [
            text[start:end]
            for token, (start, end) in zip(enc.tokens, enc.offsets)
            if token == unk
        ]
        return list(dict.fromkeys(words))

    def warn_unknown_words(self, texts: List[str]) -> None:
        """Warn once per text that has unknown words, naming them."""
        # not an attribute the tokenizer knows: keep it out of its config
        warned = self.__dict__.setdefault('_warned_texts', OrderedDict())
        for text in texts:
            if text in warned:
                warned.move_to_end(text)
                continue
            words = self.unknown_words(text)
            if not words:
                continue
            warned[text] = None
            if len(warned) > self.max_remembered:
                warned.popitem(last=False)
            shown = text if len(text) <= 200 else text[:200] + '...'
            print_log(
                f"Unknown words {words} in {shown!r}: the tokenizer's word "
                f'list lacks them, so each is read as {self.unk_token!r}. '
                "Add them to the tokenizer's word list to keep them.",
                logger='current',
                level=logging.WARNING,
            )

    def _encode_plus(self, text=None, text_pair=None, *args, **kwargs):
        split = bool(kwargs.get('is_split_into_words', False))
        self.warn_unknown_words(_texts(text, split) + _texts(text_pair, split))
        return super()._encode_plus(text, text_pair, *args, **kwargs)

    def _batch_encode_plus(self, batch_text_or_text_pairs, *args, **kwargs):
        # transformers 4.x; 5.x encodes batches in _encode_plus
        split = bool(kwargs.get('is_split_into_words', False))
        self.warn_unknown_words(_texts(batch_text_or_text_pairs, split))
        return super()._batch_encode_plus(
            batch_text_or_text_pairs, *args, **kwargs
        )

    def save_pretrained(self, *args, **kwargs):
        # Saved under the plain class name: the files are the same, and
        # AutoTokenizer of transformers 4.x cannot reload a class it does
        # not know.
        self.__class__ = PreTrainedTokenizerFast
        try:
            return self.save_pretrained(*args, **kwargs)
        finally:
            self.__class__ = WordListTokenizerFast
