"""AutoTokenizer: ``transformers.AutoTokenizer.from_pretrained`` by type
name, as mmpretrain registers it."""

from mmgres.registry import TOKENIZER

VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'red', 'ball']


def test_loads_a_local_bert_tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    (tmp_path / 'vocab.txt').write_text('\n'.join(VOCAB) + '\n')
    ref = BertTokenizerFast.from_pretrained(str(tmp_path))
    ref.save_pretrained(str(tmp_path))
    tok = TOKENIZER.build(
        dict(type='AutoTokenizer', name_or_path=str(tmp_path))
    )
    assert type(tok).__name__ == type(ref).__name__
    # [CLS] the red [UNK] ball [SEP]
    assert tok('The red cat ball')['input_ids'] == [2, 5, 6, 1, 7, 3]
    # other arguments go to from_pretrained
    tok = TOKENIZER.build(
        dict(
            type='AutoTokenizer',
            name_or_path=str(tmp_path),
            model_max_length=7,
        )
    )
    assert tok.model_max_length == 7


def test_loads_a_saved_word_list_tokenizer(tmp_path):
    ours = TOKENIZER.build(
        dict(type='WordPieceTokenizer', vocab=['the', 'red', 'ball'])
    )
    ours.save_pretrained(str(tmp_path))
    tok = TOKENIZER.build(
        dict(type='AutoTokenizer', name_or_path=str(tmp_path))
    )
    text = 'the red cat ball'
    assert tok(text)['input_ids'] == ours(text)['input_ids']
