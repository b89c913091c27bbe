import argparse
import sys

import pytest
import torch

from mmgres.models.backbones import BEiT3, interpolate_vision_pos_embed
from mmgres.registry import MODELS
from mmgres.testing import tiny_beit3_cfg

from .test_beit3_utils import train_spm

VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']

# Literal key names of the official BEiT-3 checkpoints (microsoft/unilm
# beit3 release, the 'model' entry).
OFFICIAL_KEYS = [
    'beit3.text_embed.weight',
    'beit3.vision_embed.proj.weight',
    'beit3.vision_embed.cls_token',
    'beit3.vision_embed.mask_token',
    'beit3.encoder.embed_positions.A.weight',
    'beit3.encoder.embed_positions.B.weight',
    'beit3.encoder.layers.0.self_attn.k_proj.A.weight',
    'beit3.encoder.layers.0.self_attn.q_proj.B.bias',
    'beit3.encoder.layers.0.self_attn.inner_attn_ln.A.weight',
    'beit3.encoder.layers.0.ffn.A.fc1.weight',
    'beit3.encoder.layers.0.ffn.B.ffn_layernorm.weight',
    'beit3.encoder.layers.1.final_layer_norm.B.bias',
    'beit3.encoder.layer_norm.A.weight',
]


def _tiny(**kw):
    cfg = tiny_beit3_cfg(VOCAB, **kw)
    cfg.pop('type')
    model = BEiT3(**cfg)
    model.init_weights()
    return model


def test_base_has_official_parameter_count():
    # BEiT-3 base: 222M parameters (official figure), +-2%. Built on the
    # meta device: no memory, no time.
    with torch.device('meta'):
        model = MODELS.build(dict(type='BEiT3', arch='base', img_size=224))
    n_encoder = sum(p.numel() for p in model.beit3.parameters())
    assert abs(n_encoder - 222e6) / 222e6 <= 0.02, n_encoder
    # 12 multiway layers of 768 channels, FFN 3072, 64010-token vocabulary
    layer = model.beit3.encoder.layers[0]
    assert len(model.beit3.encoder.layers) == 12
    assert layer.ffn.A.fc1.weight.shape == (3072, 768)
    assert model.beit3.text_embed.weight.shape == (64010, 768)
    # the two projections to C=256 come on top
    n_all = sum(p.numel() for p in model.parameters())
    assert n_all - n_encoder == 2 * 768 * 256
    state = model.state_dict()
    for key in OFFICIAL_KEYS:
        assert key in state, key


def test_tiny_forward_shapes_and_masks():
    model = _tiny()
    out = model(torch.randn(2, 3, 64, 64), ['the red circle', 'all'])
    # <s> the red circle </s> = 5 tokens, the longest in the batch
    assert out['img_feats'].shape == (2, 32, 4, 4)
    assert out['img_feats_raw'].shape == (2, 64, 4, 4)
    assert out['text_feats'].shape == (2, 5, 32)
    assert out['text_feats_raw'].shape == (2, 5, 64)
    assert out['cls_feat'].shape == (2, 64)
    assert out['text_padding_mask'].tolist() == [
        [False] * 5,
        [False] * 3 + [True] * 2,
    ]
    # the projection really is a linear map of the raw tokens
    raw = out['img_feats_raw'].flatten(2).transpose(1, 2)
    torch.testing.assert_close(
        out['img_feats'].flatten(2).transpose(1, 2), model.img_proj(raw)
    )


def test_padding_tokens_do_not_change_the_image_tokens():
    model = _tiny().eval()
    img = torch.randn(1, 3, 64, 64)
    tokens = model.tokenize(['the red circle left'])
    pad = torch.tensor([[False] * 4 + [True] * 2])
    ids = tokens['input_ids']
    a = model(img, tokens=dict(input_ids=ids, padding_mask=pad))
    ids2 = ids.clone()
    ids2[0, 4:] = 7  # change only padded positions
    b = model(img, tokens=dict(input_ids=ids2, padding_mask=pad))
    torch.testing.assert_close(a['img_feats'], b['img_feats'])
    # ... whereas changing a real word does
    ids3 = ids.clone()
    ids3[0, 1] = 9
    c = model(img, tokens=dict(input_ids=ids3, padding_mask=pad))
    assert not torch.allclose(a['img_feats'], c['img_feats'])


def test_gradients_reach_both_modalities():
    model = _tiny(drop_path_rate=0.1)
    out = model(torch.randn(2, 3, 64, 64), ['the red circle', 'all'])
    (out['img_feats'].sum() + out['text_feats'].sum()).backward()
    b3 = model.beit3
    assert b3.vision_embed.proj.weight.grad.abs().sum() > 0
    assert b3.text_embed.weight.grad.abs().sum() > 0
    assert b3.encoder.layers[0].ffn.B.fc1.weight.grad.abs().sum() > 0


def test_random_init_keeps_position_tables_small():
    """Random init draws the position tables with std 0.02 (torchscale's
    nn.Embedding default is N(0, 1), which drowns the word embeddings)."""
    torch.manual_seed(0)
    model = _tiny()
    pos = model.beit3.encoder.embed_positions
    for table in (pos.A.weight, pos.B.weight):
        assert 0.01 < table.std() < 0.03
    words = model.beit3.text_embed.weight
    assert words.std() > 3 * pos.B.weight.std()


def test_activation_checkpointing_keeps_names_and_results():
    torch.manual_seed(0)
    plain = _tiny().eval()
    cp = _tiny(with_cp=True).eval()
    assert list(cp.state_dict()) == list(plain.state_dict())
    cp.load_state_dict(plain.state_dict())
    img = torch.randn(1, 3, 64, 64, requires_grad=True)
    a = plain(img, ['the red circle'])['img_feats']
    b = cp(img, ['the red circle'])['img_feats']
    torch.testing.assert_close(a, b)
    b.sum().backward()
    assert img.grad.abs().sum() > 0


def test_wrong_image_size_and_missing_tokenizer():
    model = _tiny()
    with pytest.raises(ValueError, match='64x64'):
        model(torch.randn(1, 3, 48, 64), ['the red circle'])
    cfg = tiny_beit3_cfg(tokenizer=None)
    cfg.pop('type')
    with pytest.raises(ValueError, match='no tokenizer'):
        BEiT3(**cfg).tokenize(['x'])
    with pytest.raises(TypeError, match='TOKENIZER config dict'):
        BEiT3(arch='tiny', img_size=64, tokenizer='beit3.spm')
    with pytest.raises(ValueError, match='multiple'):
        BEiT3(arch='tiny', img_size=70)
    with pytest.raises(ValueError, match='max_length'):
        BEiT3(arch='tiny', img_size=64, max_length=63)


def test_torchscale_imports_without_leaving_a_fake_timm():
    model = _tiny(drop_path_rate=0.5)
    timm = sys.modules.get('timm')
    assert timm is None or hasattr(timm, '__version__')
    # torchscale's DropPath works (through timm's or mmcv's drop_path):
    # random in training, the identity in eval
    torch.manual_seed(0)
    img = torch.randn(1, 3, 64, 64).expand(8, -1, -1, -1)
    tokens = model.tokenize(['the red circle'] * 8)
    model.train()
    a = model(img, tokens=tokens)['img_feats']
    b = model(img, tokens=tokens)['img_feats']
    assert not torch.allclose(a, b)
    model.eval()
    a = model(img, tokens=tokens)['img_feats']
    b = model(img, tokens=tokens)['img_feats']
    torch.testing.assert_close(a, b)


def _official_checkpoint(path, img_size=32):
    """A tiny BEiT-3 state dict in the official format, at ``img_size``."""
    torch.manual_seed(1)
    src = _tiny(img_size=img_size)
    state = {k: v for k, v in src.state_dict().items() if k.startswith('b')}
    for key in OFFICIAL_KEYS:
        assert key in state, key
    state['beit3.encoder.embed_positions.A.weight'] = torch.randn(
        3 + (img_size // 16) ** 2, 64
    )
    state['logit_scale'] = torch.tensor(1.0)  # e.g. a retrieval head's
    torch.save(
        {'model': state, 'args': argparse.Namespace(model='beit3_tiny')},
        path,
    )
    return state


def test_official_checkpoint_round_trip(tmp_path):
    path = tmp_path / 'beit3_tiny_patch16_32.pth'
    state = _official_checkpoint(path, img_size=32)  # 2x2 patches
    model = _tiny(img_size=64)  # 4x4 patches
    report = model.load_beit3_checkpoint(str(path))
    # weights really landed
    for key in (
        'beit3.text_embed.weight',
        'beit3.vision_embed.proj.weight',
        'beit3.encoder.layers.1.self_attn.k_proj.B.weight',
        'beit3.encoder.embed_positions.B.weight',
    ):
        torch.testing.assert_close(model.state_dict()[key], state[key])
    # the position table was resized: 3 + 2*2 -> 3 + 4*4 rows
    pos = model.beit3.encoder.embed_positions.A.weight
    assert pos.shape == (19, 64)
    old = state['beit3.encoder.embed_positions.A.weight']
    torch.testing.assert_close(pos[:3], old[:3])
    torch.testing.assert_close(
        pos.detach(), interpolate_vision_pos_embed(old, 3, (4, 4))
    )
    assert '2x2 -> 4x4' in report['interpolated']
    assert sorted(report['missing_keys']) == [
        'img_proj.weight',
        'text_proj.weight',
    ]
    assert report['unexpected_keys'] == ['logit_scale']
    assert report['mismatched_keys'] == []
    out = model(torch.randn(1, 3, 64, 64), ['the red square'])
    assert out['img_feats'].shape == (1, 32, 4, 4)


def test_checkpoint_through_init_cfg_and_pretrained(tmp_path):
    path = tmp_path / 'ckpt.pth'
    state = _official_checkpoint(path, img_size=64)
    for kw in (
        dict(init_cfg=dict(type='Pretrained', checkpoint=str(path))),
        dict(pretrained=str(path)),
    ):
        model = MODELS.build(tiny_beit3_cfg(VOCAB, **kw))
        model.init_weights()
        torch.testing.assert_close(
            model.beit3.encoder.embed_positions.A.weight.detach(),
            state['beit3.encoder.embed_positions.A.weight'],
        )
    with pytest.raises(ValueError, match='not both'):
        BEiT3(arch='tiny', img_size=64, pretrained='a', init_cfg={})


def test_checkpoint_errors_name_the_file(tmp_path):
    model = _tiny()
    missing = tmp_path / 'nowhere.pth'
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        model.load_beit3_checkpoint(str(missing))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(RuntimeError, match='corrupt.pth'):
        model.load_beit3_checkpoint(str(corrupt))
    other = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}}, other)
    with pytest.raises(RuntimeError, match='resnet.pth.*no BEiT-3'):
        model.load_beit3_checkpoint(str(other))
    # a wrong architecture is skipped and reported, or refused when strict
    path = tmp_path / 'ckpt.pth'
    state = _official_checkpoint(path, img_size=64)
    state['beit3.text_embed.weight'] = torch.zeros(100, 64)
    torch.save({'model': state}, path)
    report = model.load_beit3_checkpoint(str(path))
    assert report['mismatched_keys'][0].startswith('beit3.text_embed')
    with pytest.raises(RuntimeError, match='shape mismatch'):
        model.load_beit3_checkpoint(str(path), strict=True)


def test_sentencepiece_tokenizer_from_config_path(tmp_path):
    path = tmp_path / 'beit3.spm'  # the official file name
    sp = train_spm(path)
    model = MODELS.build(
        tiny_beit3_cfg(
            tokenizer=dict(type='BEiT3Tokenizer', vocab_file=str(path)),
            max_length=12,
        )
    )
    texts = ['the red circle on the left', 'all blue squares']
    tokens = model.tokenize(texts)
    ids = tokens['input_ids']
    # fairseq/XLM-R ids as the official BEiT-3 code: <s>=0, <pad>=1,
    # </s>=2, sentencepiece piece k -> k + 1
    for row, text in zip(ids.tolist(), texts):
        pieces = [i + 1 for i in sp.encode(text)][:10]
        n = len(pieces) + 2
        assert row[:n] == [0] + pieces + [2]
        assert row[n:] == [1] * (len(row) - n)
    assert tokens['padding_mask'].equal(ids == 1)
    out = model(torch.randn(2, 3, 64, 64), tokens=tokens)
    assert out['text_feats'].shape == (2, ids.shape[1], 32)


def test_sentencepiece_errors(tmp_path):
    missing = tmp_path / 'beit3.spm'
    spm = dict(type='BEiT3Tokenizer', vocab_file=str(missing))
    model = MODELS.build(tiny_beit3_cfg(tokenizer=spm))
    with pytest.raises(FileNotFoundError, match='beit3.spm'):
        model.tokenize(['the red circle'])
    train_spm(missing)
    small = MODELS.build(
        tiny_beit3_cfg(
            tokenizer=spm,
            arch=dict(
                embed_dims=32,
                num_layers=1,
                num_heads=2,
                ffn_dims=64,
                vocab_size=16,
                max_source_positions=32,
            ),
            max_length=8,
        )
    )
    with pytest.raises(ValueError, match='vocab_size=16'):
        small.tokenize(['the red circle'])
