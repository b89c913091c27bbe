import pytest
import torch

from mmgres.models.layers import RegionAwareAnchoringNetwork
from mmgres.registry import MODELS


def _inputs(c_v=12, c_l=8, c_a=10, n=16):
    torch.manual_seed(0)
    return dict(
        visual=torch.randn(2, c_v, 8, 8),
        text=torch.randn(2, 5, c_l),
        text_padding_mask=torch.tensor(
            [[False] * 3 + [True] * 2, [False] * 5]
        ),
        anchors=torch.randn(2, n, c_a),
    )


def _block(**kwargs):
    cfg = dict(
        type='RegionAwareAnchoringNetwork',
        visual_channels=12,
        text_channels=8,
        anchor_channels=10,
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_shapes_and_anchor_width_map():
    block = _block()
    assert isinstance(block, RegionAwareAnchoringNetwork)
    assert isinstance(block.anchor_in, torch.nn.Linear)
    fused, anchors = block(**_inputs())
    assert fused.shape == (2, 12, 8, 8) and anchors.shape == (2, 16, 12)
    same = _block(anchor_channels=8)
    assert isinstance(same.anchor_in, torch.nn.Identity)


def test_is_eq1_to_eq8_in_order():
    block = _block(anchor_channels=8).eval()
    inp = _inputs(c_a=8)
    embed = torch.randn(16, 8)
    fused, anchors = block(**inp, anchor_embed=embed)
    prev = inp['anchors'] + embed
    p_l = block.linguistic(prev, inp['text'], inp['text_padding_mask'])
    p_cross = block.l2v_gate(p_l, prev)
    ref_f, p_v = block.visual(p_cross, inp['visual'])
    torch.testing.assert_close(fused, ref_f)
    torch.testing.assert_close(anchors, block.propagation(p_cross, p_v))


def test_fresh_anchors_only():
    block = _block(anchor_channels=8)
    inp = _inputs()
    inp['anchors'] = None
    fused, anchors = block(**inp, anchor_embed=torch.randn(16, 8))
    assert fused.shape == (2, 12, 8, 8) and anchors.shape == (2, 16, 12)
    inp['anchors'] = None
    with pytest.raises(ValueError):
        block(**inp)


def test_text_padding_and_gradients():
    block = _block()
    inp = _inputs()
    fused, anchors = block(**inp)
    inp['text'] = inp['text'].clone()
    inp['text'][0, 3:] = 50.0  # padded words only
    fused2, anchors2 = block(**inp)
    torch.testing.assert_close(fused, fused2)
    torch.testing.assert_close(anchors, anchors2)
    (fused.square().mean() + anchors.square().mean()).backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None]
    assert missing == []


def test_ablation_switches():
    block = _block(use_l2v_gate=False, with_alpha1=False)
    assert not block.l2v_gate.use_gate
    assert 'visual.alpha1' not in dict(block.named_parameters())
    fused, anchors = block(**_inputs())
    assert torch.isfinite(fused).all() and torch.isfinite(anchors).all()
