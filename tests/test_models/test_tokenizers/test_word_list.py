"""The word-list tokenizers name the words they do not know, once per
text."""

import logging
import uuid

import pytest
from mmengine.logging import MMLogger

from mmgres.models.tokenizers import (
    build_word_tokenizer,
    build_wordpiece_tokenizer,
)

WORDS = ['on', 'the', 'left', 'circle']


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged():
    # print_log(logger='current') logs to the newest MMLogger
    logger = MMLogger.get_instance(f'unknown_words_{uuid.uuid4().hex}')
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    'build', [build_word_tokenizer, build_wordpiece_tokenizer]
)
def test_warns_once_per_expression(build, warnings_logged):
    tok = build(WORDS)
    unk = tok.unk_token
    ids = tok('a dog on the left', add_special_tokens=False)['input_ids']
    assert tok.convert_ids_to_tokens(ids) == [unk, unk, 'on', 'the', 'left']
    assert len(warnings_logged) == 1
    msg = warnings_logged[0]
    assert "Unknown words ['a', 'dog'] in 'a dog on the left'" in msg

    tok('a dog on the left')  # the same expression: no second warning
    tok('the circle on the left')  # no unknown word
    assert len(warnings_logged) == 1

    # a batch: only the new expression, its words as written, each once
    tok(['a dog on the left', 'The Cat, the CAT'])
    assert len(warnings_logged) == 2
    assert "Unknown words ['Cat', ',', 'CAT']" in warnings_logged[1]


def test_warned_expressions_are_bounded(warnings_logged):
    tok = build_word_tokenizer(WORDS)
    tok.max_remembered = 2
    for text in ('a', 'b', 'c', 'b', 'a'):
        tok(text)
    # 'a' was forgotten when 'c' came; 'b' was still remembered
    assert [m.split(' in ')[1][:3] for m in warnings_logged] == [
        "'a'",
        "'b'",
        "'c'",
        "'a'",
    ]
    assert len(tok.__dict__['_warned_texts']) == 2


def test_save_and_reload(tmp_path):
    from transformers import AutoTokenizer

    tok = build_wordpiece_tokenizer(WORDS)
    tok.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert again('the circle')['input_ids'] == tok('the circle')['input_ids']
