"""WordPieceTokenizer: BERT's WordPiece over a word list, in memory."""

import pytest

from mmgres.registry import TOKENIZER

WORDS = ['the', 'red', 'circle', 'café', '.', ',']
SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']


def _build(**kw):
    return TOKENIZER.build(dict(type='WordPieceTokenizer', vocab=WORDS, **kw))


def test_ids_by_hand():
    tok = _build()
    vocab = tok.get_vocab()
    # specials take ids 0-4, then the words in order
    assert [vocab[w] for w in SPECIALS + WORDS] == list(range(11))
    # [CLS] the red circle , [UNK](dog) [SEP]
    ids = tok('The RED circle, dog')['input_ids']
    assert ids == [2, 5, 6, 7, 10, 1, 3]
    pair = tok('the red', 'circle', return_token_type_ids=True)
    assert pair['input_ids'] == [2, 5, 6, 3, 7, 3]
    assert pair['token_type_ids'] == [0, 0, 0, 0, 1, 1]
    assert tok.pad_token_id == 0 and tok.model_max_length == 512


def test_same_ids_as_bert_tokenizer_on_the_same_vocab(tmp_path):
    from transformers import BertTokenizerFast

    (tmp_path / 'vocab.txt').write_text('\n'.join(SPECIALS + WORDS) + '\n')
    texts = [
        'The RED circle, café. dog Circles',  # accents stripped: cafe
        'the  red\tcircle.',
        '',
    ]
    for lowercase in (True, False):
        ref = BertTokenizerFast.from_pretrained(
            str(tmp_path), do_lower_case=lowercase
        )
        ours = _build(lowercase=lowercase)
        for text in texts:
            assert ours(text)['input_ids'] == ref(text)['input_ids'], text
        assert (
            ours('the red', 'circle')['input_ids']
            == ref('the red', 'circle')['input_ids']
        )


def test_duplicates_dropped_and_one_string_refused():
    tok = TOKENIZER.build(
        dict(type='WordPieceTokenizer', vocab=['red', 'red', '[UNK]', 'x'])
    )
    assert len(tok) == 5 + 2  # red, x
    with pytest.raises(TypeError, match='not one string'):
        TOKENIZER.build(dict(type='WordPieceTokenizer', vocab='red'))
