"""WordLevelTokenizer: a Llama-style word-level tokenizer, in memory."""

import pytest

from mmgres.models.tokenizers import (
    build_word_tokenizer,
    split_words,
    with_leading_words,
)
from mmgres.registry import TOKENIZER


def test_split_words_hand_example():
    assert split_words("USER: the human's Circle?") == [
        'user',
        ':',
        'the',
        'human',
        "'",
        's',
        'circle',
        '?',
    ]


def test_built_by_type_name_with_ids_by_hand():
    tok = TOKENIZER.build(
        dict(type='WordLevelTokenizer', words=['the red circle', 'a cat.'])
    )
    # <unk> <s> </s> the red circle a cat .
    assert len(tok) == 9
    ids = tok('The dog.', add_special_tokens=False)['input_ids']
    assert ids == [3, 0, 8]
    tok = TOKENIZER.build(
        dict(
            type='WordLevelTokenizer',
            words=['x'],
            specials=('[U]', '[B]', '[E]'),
            model_max_length=7,
        )
    )
    assert tok.get_vocab() == {'[U]': 0, '[B]': 1, '[E]': 2, 'x': 3}
    assert tok.model_max_length == 7


def test_llama_style_specials_and_unknown_words():
    tok = build_word_tokenizer(['the red circle', 'red', 'a cat.'])
    vocab = tok.get_vocab()
    assert [vocab[t] for t in ('<unk>', '<s>', '</s>')] == [0, 1, 2]
    assert tok.bos_token_id == 1 and tok.eos_token_id == 2
    assert tok.pad_token is None  # as Llama
    # specials + the, red, circle, a, cat, "." (duplicates dropped)
    assert len(tok) == 3 + 6
    ids = tok('The RED dog.', add_special_tokens=False)['input_ids']
    assert tok.convert_ids_to_tokens(ids) == ['the', 'red', '<unk>', '.']
    with pytest.raises(TypeError, match='not one string'):
        build_word_tokenizer('the red circle')
    with pytest.raises(ValueError, match='unk, bos, eos'):
        build_word_tokenizer(['a'], specials=('<unk>', '<s>'))


def test_added_tokens_are_matched_on_raw_text_with_offsets():
    from tokenizers import AddedToken

    tok = build_word_tokenizer(['a cat', ':', ','])
    tok.add_tokens([AddedToken('[SEG]', normalized=False)])
    enc = tok(
        'A cat:[SEG], cat',
        add_special_tokens=False,
        return_offsets_mapping=True,
    )
    assert tok.convert_ids_to_tokens(enc['input_ids']) == [
        'a',
        'cat',
        ':',
        '[SEG]',
        ',',
        'cat',
    ]
    assert enc['offset_mapping'] == [
        (0, 1),
        (2, 5),
        (5, 6),
        (6, 11),
        (11, 12),
        (13, 16),
    ]


def test_with_leading_words_equals_building_with_them_first():
    tok = build_word_tokenizer(['red', 'circle'], model_max_length=99)
    led = with_leading_words(tok, ['the circle'])
    # <unk> <s> </s> the circle red: 'circle' keeps its first place
    assert led.get_vocab() == {
        '<unk>': 0,
        '<s>': 1,
        '</s>': 2,
        'the': 3,
        'circle': 4,
        'red': 5,
    }
    assert led.model_max_length == 99
    assert len(tok) == 5  # the original is unchanged
    words = ['USER: what is <x>?', 'the red circle', 'red, blue']
    assert (
        with_leading_words(
            build_word_tokenizer(words[2:]), words[:2]
        ).get_vocab()
        == build_word_tokenizer(words).get_vocab()
    )


def test_with_leading_words_refuses_other_tokenizers():
    from tokenizers import AddedToken

    wordpiece = TOKENIZER.build(dict(type='WordPieceTokenizer', vocab=['a']))
    with pytest.raises(TypeError, match='word-level'):
        with_leading_words(wordpiece, ['b'])
    tok = build_word_tokenizer(['a'])
    tok.add_tokens([AddedToken('[SEG]', normalized=False)])
    with pytest.raises(ValueError, match='added tokens'):
        with_leading_words(tok, ['b'])
