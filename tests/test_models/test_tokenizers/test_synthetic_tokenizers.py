"""The synthetic benchmark's tokenizers, registered by its dataset package
over its own word list and named by its dataset config."""

from mmengine.config import Config

from mmgres.datasets.synthetic import SYNTHETIC_VOCAB
from mmgres.registry import TOKENIZER


def test_wordpiece_over_the_benchmark_words():
    tok = TOKENIZER.build(dict(type='SyntheticWordPieceTokenizer'))
    assert len(tok) == 5 + 44 == 5 + len(SYNTHETIC_VOCAB)
    # 20 function words ('the' first), 'small', 'big', then the colours
    # ('red' at 22) and the shapes ('circle' at 27); 5 specials before them
    ids = tok('The red circle')['input_ids']
    assert ids == [2, 5, 5 + 22, 5 + 27, 3]
    sentence = ' '.join(SYNTHETIC_VOCAB)
    assert tok.unk_token_id not in tok(sentence)['input_ids']


def test_word_level_over_the_benchmark_words():
    tok = TOKENIZER.build(dict(type='SyntheticWordLevelTokenizer'))
    assert len(tok) == 3 + 44
    ids = tok('The red circle', add_special_tokens=False)['input_ids']
    assert ids == [3, 3 + 22, 3 + 27]
    assert tok.unk_token == '<unk>' and tok.unk_token_id == 0


def test_named_by_the_dataset_config():
    cfg = Config.fromfile('configs/_base_/datasets/synthetic_grefcoco.py')
    assert cfg.synthetic_wordpiece == dict(type='SyntheticWordPieceTokenizer')
    assert cfg.synthetic_word_level == dict(type='SyntheticWordLevelTokenizer')
    for name in ('synthetic_wordpiece', 'synthetic_word_level'):
        assert len(TOKENIZER.build(cfg[name])) < 64  # tiny vocab_size
