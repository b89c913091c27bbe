"""ConvStemBEiT3: BEiT-3 with a convolutional stem (projects/conv_stem)."""

import argparse

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import tiny_beit3_cfg
from projects.conv_stem.conv_stem.beit3 import ConvStemBEiT3
from projects.conv_stem.conv_stem.layers import ConvStem

VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']
CONFIG = (
    'projects/conv_stem/configs/'
    'igvg_tiny-convstem_1xb8-8e_synthetic-grefcoco.py'
)


def _tiny(stem=True, **kw):
    cfg = tiny_beit3_cfg(VOCAB, **kw)
    cfg['type'] = 'ConvStemBEiT3' if stem else 'BEiT3'
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _official_checkpoint(path, img_size=64):
    """A tiny BEiT-3 state dict in the official format ({'model': ...},
    the plain patchify projection)."""
    torch.manual_seed(1)
    src = _tiny(stem=False, img_size=img_size)
    state = {k: v for k, v in src.state_dict().items() if k.startswith('b')}
    state['logit_scale'] = torch.tensor(1.0)
    torch.save(
        {'model': state, 'args': argparse.Namespace(model='beit3_tiny')},
        path,
    )
    return state


def test_conv_stem_replaces_the_patchify_projection(tmp_path):
    model = _tiny()
    assert isinstance(model, ConvStemBEiT3)
    stem = model.beit3.vision_embed.proj
    assert isinstance(stem, ConvStem)
    assert 'conv_stem=True' in repr(model)
    # four stride-2 convolutions for 16-pixel patches, the same token grid
    assert len(stem.layers) == 4
    out = model(torch.randn(2, 3, 64, 64), ['the red circle', 'all'])
    assert out['img_feats'].shape == (2, 32, 4, 4)
    out['img_feats'].sum().backward()
    assert stem.layers[0].conv.weight.grad.abs().sum() > 0
    # an official checkpoint loads everything but the patchify projection
    path = tmp_path / 'ckpt.pth'
    state = _official_checkpoint(path, img_size=64)
    report = model.load_beit3_checkpoint(str(path))
    assert sorted(report['unexpected_keys']) == [
        'beit3.vision_embed.proj.bias',
        'beit3.vision_embed.proj.weight',
        'logit_scale',
    ]
    assert all(
        'vision_embed.proj.layers' in k
        for k in report['missing_keys']
        if k.startswith('beit3.')
    )
    torch.testing.assert_close(
        model.state_dict()['beit3.text_embed.weight'],
        state['beit3.text_embed.weight'],
    )


def test_stem_cfg_reaches_the_stem():
    model = _tiny(
        stem_cfg=dict(min_channels=8, norm_cfg=dict(type='GN', num_groups=2))
    )
    first = model.beit3.vision_embed.proj.layers[0]
    # widths 32/8 = 4 -> at least min_channels 8
    assert first.conv.out_channels == 8
    assert type(first.norm).__name__ == 'GroupNorm'


def test_the_igvg_config_uses_the_stem():
    cfg = Config.fromfile(CONFIG)
    assert cfg.custom_imports.imports == ['projects.conv_stem.conv_stem.beit3']
    assert cfg.model.backbone.type == 'ConvStemBEiT3'
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
    assert isinstance(model.backbone.beit3.vision_embed.proj, ConvStem)
