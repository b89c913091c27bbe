"""ConvStemAnchoredVisionBackbone: RaAM's anchored ViT with a ConvStem."""

import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.utils import register_all_modules
from projects.conv_stem.conv_stem.anchored_backbone import (
    ConvStemAnchoredVisionBackbone,
)
from projects.conv_stem.conv_stem.layers import ConvStem

register_all_modules(init_default_scope=False)

CONFIG = (
    'projects/conv_stem/configs/'
    'raam_tiny-convstem_1xb8-8e_synthetic-grefcoco.py'
)
TEXT_C = 24
VIT = dict(
    type='mmseg.VisionTransformer',
    img_size=(64, 64),
    patch_size=8,
    embed_dims=32,
    num_layers=8,
    num_heads=2,
    mlp_ratio=2,
    final_norm=True,
    init_cfg=None,
)
SWIN = dict(
    type='SwinTransformer',
    embed_dims=16,
    depths=[1, 1, 1, 1],
    num_heads=[1, 1, 2, 2],
    window_size=4,
    pretrain_img_size=64,
    init_cfg=None,
)


def _backbone(vision):
    return MODELS.build(
        dict(
            type='ConvStemAnchoredVisionBackbone',
            vision=copy.deepcopy(vision),
            text_channels=TEXT_C,
        )
    )


def _inputs(batch=2, size=64):
    torch.manual_seed(0)
    return (
        torch.randn(batch, 3, size, size),
        torch.randn(batch, 5, TEXT_C),
        torch.tensor([[False] * 3 + [True] * 2, [False] * 5]),
    )


def test_stem_replaces_the_patchify_projection():
    bb = _backbone(VIT)
    assert isinstance(bb, ConvStemAnchoredVisionBackbone)
    stem = bb.vision.patch_embed.projection
    assert isinstance(stem, ConvStem)
    # patch 8: three stride-2 convolutions, widths 16 -> 16 -> 32
    convs = [m.conv for m in stem.layers]
    assert [c.stride for c in convs] == [(2, 2)] * 3
    assert [c.out_channels for c in convs] == [16, 16, 32]
    # the tokens, stages and anchors are those of the patchify ViT
    out = bb(*_inputs())
    assert [f.shape for f in out['feats']] == [(2, 32, 8, 8)] * 4
    assert [a.shape for a in out['anchors']] == [(2, 16, 32)] * 4
    out['feats'][-1].mean().backward()
    assert convs[0].weight.grad.abs().sum() > 0


def test_keys_outside_the_stem_are_the_core_backbones():
    core = MODELS.build(
        dict(
            type='AnchoredVisionBackbone',
            vision=copy.deepcopy(VIT),
            text_channels=TEXT_C,
        )
    )
    stem_prefix = 'vision.patch_embed.projection.'
    ours = {k for k in _backbone(VIT).state_dict() if stem_prefix not in k}
    theirs = {k for k in core.state_dict() if stem_prefix not in k}
    assert ours == theirs


def test_swin_is_refused():
    with pytest.raises(ValueError, match='ViT'):
        _backbone(SWIN)


def test_config_builds_and_uses_the_stem():
    cfg = Config.fromfile(CONFIG)
    assert cfg.custom_imports.imports == [
        'projects.conv_stem.conv_stem.anchored_backbone'
    ]
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, ConvStemAnchoredVisionBackbone)
    assert isinstance(model.backbone.vision.patch_embed.projection, ConvStem)
