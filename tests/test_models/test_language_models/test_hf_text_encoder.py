import pytest
import torch

from mmgres.models.language_models import KNOWN_TEXT_ARCHS, HFTextEncoder
from mmgres.registry import MODELS
from mmgres.testing import tiny_text_encoder_cfg

VOCAB = ['the', 'man', 'on', 'left', 'right', 'red', 'ball', 'two', 'cats']


def _tiny(**kw):
    cfg = tiny_text_encoder_cfg(VOCAB, **kw)
    cfg.pop('type')
    return HFTextEncoder(**cfg)


def test_forward_shapes_and_masks():
    enc = _tiny(max_length=8)
    out = enc(['the man on the left', 'red ball'])
    B, L, C = out['token_feats'].shape
    assert (B, C) == (2, 32)
    # "[CLS] the man on the left [SEP]" = 7 tokens, the longest in the batch
    assert L == 7
    assert out['attention_mask'].tolist() == [[1] * 7, [1] * 4 + [0] * 3]
    assert torch.equal(out['padding_mask'], out['attention_mask'] == 0)
    assert out['sentence_feat'].shape == (2, 32)


def test_truncation_and_max_padding():
    enc = _tiny(max_length=5, pad_to_max_length=True)
    out = enc(['the man on the left of the red ball', 'two'])
    assert out['input_ids'].shape == (2, 5)
    ids = out['input_ids'][0].tolist()
    tok = enc.tokenizer
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert out['attention_mask'][1].tolist() == [1, 1, 1, 0, 0]
    # unknown words map to [UNK]
    assert enc.tokenize(['zebra'])['input_ids'][0, 1] == tok.unk_token_id


@pytest.mark.parametrize('pooling', ['pooler', 'cls', 'mean'])
def test_pooling(pooling):
    enc = _tiny(pooling=pooling)
    out = enc(['the man', 'two red cats'])
    if pooling == 'cls':
        torch.testing.assert_close(
            out['sentence_feat'], out['token_feats'][:, 0]
        )
    if pooling == 'mean':
        m = out['attention_mask'][0].bool()
        torch.testing.assert_close(
            out['sentence_feat'][0], out['token_feats'][0, m].mean(0)
        )


def test_frozen_stays_frozen_and_eval():
    enc = _tiny(frozen=True)
    enc.train()
    assert not enc.model.training
    assert all(not p.requires_grad for p in enc.parameters())


def test_gradients_flow_when_trainable():
    enc = _tiny()
    out = enc(['the red ball'])
    out['sentence_feat'].sum().backward()
    assert enc.model.embeddings.word_embeddings.weight.grad is not None


def test_build_full_size_offline_and_param_count():
    # Building BERT-base reads nothing: the architecture is in the config.
    enc = MODELS.build(
        dict(type='HFTextEncoder', name_or_path='bert-base-uncased')
    )
    n = sum(p.numel() for p in enc.parameters())
    assert 109_000_000 < n < 110_000_000  # BERT-base: 109.48M with pooler
    assert enc.embed_dims == 768
    assert enc._tokenizer is None  # loaded lazily
    rob = HFTextEncoder('roberta-base')
    assert sum(p.numel() for p in rob.parameters()) == pytest.approx(
        124.6e6, rel=0.01
    )


def test_unknown_name_without_cfg_is_clear():
    with pytest.raises(ValueError, match='no architecture is known'):
        HFTextEncoder('my-private-bert')
    assert 'bert-base-uncased' in KNOWN_TEXT_ARCHS


def test_from_pretrained_local_dir(tmp_path):
    """init_weights() loads real weights and the tokenizer from a local
    directory with from_pretrained."""
    src = _tiny()
    src.model.save_pretrained(tmp_path)
    src.tokenizer.save_pretrained(tmp_path)
    cfg = tiny_text_encoder_cfg([])
    enc = HFTextEncoder(
        name_or_path=str(tmp_path), model_cfg=cfg['model_cfg'], pretrained=True
    )
    assert not torch.equal(
        enc.model.embeddings.word_embeddings.weight,
        src.model.embeddings.word_embeddings.weight,
    )
    enc.init_weights()
    for k, v in src.model.state_dict().items():
        torch.testing.assert_close(enc.model.state_dict()[k], v)
    text = ['the man on the left']
    src.eval(), enc.eval()  # no dropout
    assert (
        enc.tokenize(text)['input_ids'].tolist()
        == src.tokenize(text)['input_ids'].tolist()
    )
    torch.testing.assert_close(
        enc(text)['token_feats'], src(text)['token_feats']
    )


def test_tokenizer_larger_than_model_vocab():
    cfg = tiny_text_encoder_cfg(VOCAB)  # 5 specials + 9 words
    cfg['model_cfg']['vocab_size'] = 13
    cfg.pop('type')
    enc = HFTextEncoder(**cfg)  # the tokenizer is built on first use
    with pytest.raises(ValueError, match='14 tokens.*vocab_size=13'):
        enc.tokenize(['the man'])


def test_tokenizer_is_a_registry_dict():
    cfg = tiny_text_encoder_cfg(VOCAB)
    assert cfg['tokenizer'] == dict(type='WordPieceTokenizer', vocab=VOCAB)
    cfg.pop('type')
    cfg['tokenizer'] = dict(type='SyntheticWordPieceTokenizer')
    enc = HFTextEncoder(**cfg)
    # [CLS] the red circle on the left [SEP]; 'red' and 'circle' are the
    # benchmark's 23rd and 28th words, 'on' its 5th, 'left' its 8th
    ids = enc.tokenize(['the red circle on the left'])['input_ids'][0]
    assert ids.tolist() == [2, 5, 27, 32, 9, 5, 12, 3]
    # the default: the HF tokenizer of name_or_path
    del cfg['tokenizer'], cfg['name_or_path']
    enc = HFTextEncoder('data/my-bert', **cfg)
    assert enc.tokenizer_cfg == dict(
        type='AutoTokenizer', name_or_path='data/my-bert'
    )
    with pytest.raises(TypeError, match='TOKENIZER config dict'):
        HFTextEncoder('data/my-bert', tokenizer='data/my-bert', **cfg)


def test_tokenize_warns_about_unknown_words():
    import logging
    import uuid

    from mmengine.logging import MMLogger

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_instance(f'hf_text_encoder_{uuid.uuid4().hex}')
    records = Records()
    logger.addHandler(records)
    try:
        enc = _tiny()
        enc.tokenize(['the dog', 'the man'])
    finally:
        logger.removeHandler(records)
    assert len(records.messages) == 1
    assert "['dog'] in 'the dog'" in records.messages[0]
