"""AnchoredVisionBackbone on tiny ViT and Swin configs."""

import copy

import pytest
import torch

from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

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
    depths=[2, 1, 1, 1],
    num_heads=[1, 1, 2, 2],
    window_size=4,
    pretrain_img_size=64,
    drop_path_rate=0.0,
    init_cfg=None,
)


def _backbone(vision, **kwargs):
    cfg = dict(
        type='AnchoredVisionBackbone',
        vision=copy.deepcopy(vision),
        text_channels=TEXT_C,
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _inputs(batch=2, size=64):
    torch.manual_seed(0)
    return (
        torch.randn(batch, 3, size, size),
        torch.randn(batch, 5, TEXT_C),
        torch.tensor([[False] * 3 + [True] * 2, [False] * 5]),
    )


@pytest.mark.parametrize('interaction', ['anchor', 'direct'])
def test_vit_stages(interaction):
    bb = _backbone(VIT, interaction=interaction)
    assert bb.arch == 'vit' and bb.stage_depths == [2, 2, 2, 2]
    assert bb.out_channels == [32] * 4
    out = bb(*_inputs())
    assert [f.shape for f in out['feats']] == [(2, 32, 8, 8)] * 4
    assert [len(v) for v in out['layer_feats']] == [2, 2, 2, 2]
    assert all(v.shape == (2, 32, 8, 8) for s in out['layer_feats'] for v in s)
    assert [a.shape for a in out['anchors']] == [(2, 16, 32)] * 4
    loss = sum(f.mean() for f in out['feats']) + out['anchors'][-1].mean()
    loss.backward()
    assert bb.vision.layers[0].attn.attn.in_proj_weight.grad is not None
    if interaction == 'anchor':
        assert bb.anchor_embeds.shape == (2, 16, TEXT_C)
        assert bb.anchor_embeds.grad.abs().sum() > 0
    else:
        assert bb.anchor_embeds is None


@pytest.mark.parametrize('interaction', ['anchor', 'direct'])
def test_swin_stages(interaction):
    bb = _backbone(SWIN, interaction=interaction)
    assert bb.arch == 'swin' and bb.stage_depths == [2, 1, 1, 1]
    assert bb.out_channels == [16, 32, 64, 128]
    assert not hasattr(bb.vision, 'norm0')  # out_indices forced to ()
    out = bb(*_inputs())
    sizes = [16, 8, 4, 2]
    assert [f.shape for f in out['feats']] == [
        (2, c, s, s) for c, s in zip(bb.out_channels, sizes)
    ]
    assert [len(v) for v in out['layer_feats']] == [2, 1, 1, 1]
    assert [a.shape for a in out['anchors']] == [
        (2, 16, c) for c in bb.out_channels
    ]
    if interaction == 'anchor':
        # a Swin stage's anchors are mapped to the text width
        assert isinstance(bb.interactions[1].anchor_in, torch.nn.Linear)
    loss = sum(f.mean() for f in out['feats']) + out['anchors'][-1].mean()
    loss.backward()
    unused = [n for n, p in bb.named_parameters() if p.grad is None]
    assert unused == []


def test_vit_stage_is_the_interaction_after_the_layers():
    bb = _backbone(VIT).eval()
    img, text, mask = _inputs()
    out = bb(img, text, mask)
    v = out['layer_feats'][0][-1]  # F¹_1, before the fusion
    fused, anchors = bb.interactions[0](
        v, text, mask, anchor_embed=bb.anchor_embeds[0]
    )
    torch.testing.assert_close(out['feats'][0], fused)
    torch.testing.assert_close(out['anchors'][0], anchors)
    # stage 2 (< J): propagated anchors plus fresh ones
    fused2, _ = bb.interactions[1](
        out['layer_feats'][1][-1],
        text,
        mask,
        anchors=anchors,
        anchor_embed=bb.anchor_embeds[1],
    )
    torch.testing.assert_close(out['feats'][1], fused2)


def test_fresh_anchors_only_in_the_first_j_stages():
    bb = _backbone(VIT, num_init_stages=1).eval()
    assert bb.anchor_embeds.shape[0] == 1
    img, text, mask = _inputs()
    out = bb(img, text, mask)
    fused2, _ = bb.interactions[1](
        out['layer_feats'][1][-1], text, mask, anchors=out['anchors'][0]
    )
    torch.testing.assert_close(out['feats'][1], fused2)
    # stage 2 of Swin adds its fresh anchors (width C_l) to stage 1's
    # anchors (width 16), mapped to C_l
    swin = _backbone(SWIN)
    assert swin.interactions[0].anchor_channels == TEXT_C
    assert swin.interactions[1].anchor_channels == 16


def test_interaction_cfg_reaches_the_blocks():
    bb = _backbone(VIT, interaction_cfg=dict(use_l2v_gate=False))
    assert all(not m.l2v_gate.use_gate for m in bb.interactions)
    assert all(m.propagation.source == 'cross' for m in bb.interactions)
    bb = _backbone(VIT, interaction_cfg=dict(propagate_from='visual'))
    assert all(m.propagation.source == 'visual' for m in bb.interactions)
    assert all(m.visual.visual_anchors for m in bb.interactions)


def test_bad_arguments():
    with pytest.raises(ValueError):
        _backbone(VIT, interaction='concat')
    with pytest.raises(ValueError):
        _backbone(VIT, num_anchors=9)
    with pytest.raises(ValueError):
        _backbone(dict(VIT, num_layers=6))
    with pytest.raises(ValueError):
        _backbone(SWIN, num_stages=3)


def _pretrained_roundtrip(vision, tmp_path, prefix):
    src = _backbone(vision)
    state = {prefix + k: v for k, v in src.vision.state_dict().items()}
    path = str(tmp_path / 'vision.pth')
    torch.save(state, path)
    cfg = copy.deepcopy(vision)
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=path)
    torch.manual_seed(123)
    dst = _backbone(cfg)
    before = dict(dst.vision.named_parameters())
    differ = [
        k
        for k, v in src.vision.named_parameters()
        if not torch.equal(v, before[k])
    ]
    assert differ  # the test can fail: weights differ before loading
    raam_before = copy.deepcopy(dst.interactions.state_dict())
    dst.init_weights()
    for k, v in src.vision.state_dict().items():
        torch.testing.assert_close(dst.vision.state_dict()[k], v, msg=k)
    # the new interaction blocks are not touched by the checkpoint
    assert set(raam_before) == set(dst.interactions.state_dict())


def test_vit_loads_pretrained(tmp_path):
    _pretrained_roundtrip(VIT, tmp_path, prefix='')


def test_swin_loads_pretrained(tmp_path):
    # mmdet's Swin keeps the keys that start with ``backbone.``
    _pretrained_roundtrip(SWIN, tmp_path, prefix='backbone.')
