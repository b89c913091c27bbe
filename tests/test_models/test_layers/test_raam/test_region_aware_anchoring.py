import pytest
import torch
import torch.nn.functional as F

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
    f_i, p_v = block.visual(p_cross, inp['visual'])
    assert p_v is None  # Eq. 5 is not computed for the printed Eq. 8
    torch.testing.assert_close(fused, f_i)
    torch.testing.assert_close(anchors, block.propagation(p_cross))


def test_eq8_visual_reading_propagates_eq5_anchors():
    """propagate_from='visual': P_i = Norm(P^cross + ω_p4(P^V)), P^V of
    Eq. 5, computed here with the module's own weights."""
    block = _block(anchor_channels=8, propagate_from='visual').eval()
    inp = _inputs(c_a=8)
    fused, anchors = block(**inp)
    prev = inp['anchors']
    p_l = block.linguistic(prev, inp['text'], inp['text_padding_mask'])
    p_cross = block.l2v_gate(p_l, prev)
    vis = block.visual
    att = vis.activation(p_cross, inp['visual'])
    v = vis.visual_value(inp['visual']).flatten(2)  # (B, C, M)
    p_v = vis.alpha1 * torch.einsum('bnm,bcm->bnc', att.softmax(-1), v)
    expected = F.layer_norm(
        p_cross + block.propagation.proj(p_v),
        (12,),
        block.propagation.norm.weight,
        block.propagation.norm.bias,
    )
    torch.testing.assert_close(anchors, expected)
    torch.testing.assert_close(fused, vis(p_cross, inp['visual'])[0])


def test_eq8_as_printed_propagates_the_cross_anchors():
    """Eq. 8 (Sec. 3.4) propagates ω_p4(P^cross): the next stage's
    anchors come from the words and the incoming anchors, not from this
    stage's pixels, while the fused feature does depend on them."""
    block = _block().eval()
    inp = _inputs()
    fused, anchors = block(**inp)
    inp['visual'] = inp['visual'] * 3 + 1
    fused2, anchors2 = block(**inp)
    torch.testing.assert_close(anchors, anchors2)
    assert not torch.allclose(fused, fused2)


def test_eq8_visual_reading_propagates_the_pixels():
    """With P^V in Eq. 8 the next stage's anchors depend on this stage's
    pixels, unlike the printed form above."""
    block = _block(propagate_from='visual').eval()
    inp = _inputs()
    _, anchors = block(**inp)
    inp['visual'] = inp['visual'] * 3 + 1
    inp['visual'][:, :, :4] = 0.0
    _, anchors2 = block(**inp)
    assert not torch.allclose(anchors, anchors2)


# The parameters that Eq. 5 adds to a block, named as in the checkpoints of
# commit ca9486f (whose default was the 'visual' reading), so that those
# load into propagate_from='visual'.
EQ5_KEYS = {
    'visual.alpha1',
    'visual.visual_value.0.weight',
    'visual.visual_value.0.bias',
    'visual.visual_value.1.weight',
    'visual.visual_value.1.bias',
}


def test_eq5_parameters_exist_only_for_the_visual_reading():
    cross = set(_block().state_dict())
    visual = set(_block(propagate_from='visual').state_dict())
    assert not any(k.startswith('visual.visual_value') for k in cross)
    assert 'visual.alpha1' not in cross
    assert visual - cross == EQ5_KEYS and cross <= visual
    # ω_v2: a 1x1 convolution and an affine instance norm, C² + 3C; α₁: 1
    extra = sum(
        p.numel()
        for n, p in _block(propagate_from='visual').named_parameters()
        if n in EQ5_KEYS
    )
    assert extra == 12 * 12 + 3 * 12 + 1
    with pytest.raises(ValueError, match='propagate_from'):
        _block(propagate_from='pixels')


def test_fresh_anchors_only():
    block = _block(anchor_channels=8)
    inp = _inputs()
    inp['anchors'] = None
    fused, anchors = block(**inp, anchor_embed=torch.randn(16, 8))
    assert fused.shape == (2, 12, 8, 8) and anchors.shape == (2, 16, 12)
    inp['anchors'] = None
    with pytest.raises(ValueError):
        block(**inp)


@pytest.mark.parametrize('propagate_from', ['cross', 'visual'])
def test_text_padding_and_gradients(propagate_from):
    block = _block(propagate_from=propagate_from)
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


def test_l2v_gate_switch():
    block = _block(use_l2v_gate=False)
    assert not block.l2v_gate.use_gate
    fused, anchors = block(**_inputs())
    assert torch.isfinite(fused).all() and torch.isfinite(anchors).all()
