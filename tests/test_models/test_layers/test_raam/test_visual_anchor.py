import math

import torch
import torch.nn.functional as F

from mmgres.models.layers import VisualAnchorLearning
from mmgres.registry import MODELS


def _inputs(b=2, n=16, c=8, h=6, w=5):
    torch.manual_seed(0)
    return torch.randn(b, n, c), torch.randn(b, c, h, w)


def test_registered_and_shapes():
    block = MODELS.build(dict(type='VisualAnchorLearning', channels=8))
    anchors, visual = _inputs()
    att = block.activation(anchors, visual)
    fused, anchors_v = block(anchors, visual)
    assert att.shape == (2, 16, 30)
    assert fused.shape == visual.shape
    assert anchors_v is None
    fused, anchors_v = VisualAnchorLearning(8, visual_anchors=True)(
        anchors, visual
    )
    assert fused.shape == visual.shape and anchors_v.shape == (2, 16, 8)


def test_eq4_6_7_match_the_formulas():
    block = VisualAnchorLearning(8)
    with torch.no_grad():
        block.alpha2.fill_(0.7)
    anchors, visual = _inputs()
    fused, _ = block(anchors, visual)
    # Eq. 4
    k = block.visual_key(visual).flatten(2)
    att = block.anchor_key(anchors) @ k / math.sqrt(8)
    torch.testing.assert_close(block.activation(anchors, visual), att)
    # Eq. 6-7: pixels gather the anchors (softmax over the anchors)
    f2 = torch.einsum(
        'bnc,bnm->bcm', block.anchor_value(anchors), att.softmax(1)
    )
    ref_f = visual + 0.7 * f2.view_as(visual)
    ref_f = F.layer_norm(ref_f.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)
    torch.testing.assert_close(fused, ref_f)


def test_single_anchor_reaches_every_pixel_equally():
    # N = 1: softmax over the anchors is 1 everywhere, so F² = ω_p3(P) at
    # every pixel (Eq. 6).
    block = VisualAnchorLearning(4)
    anchors, visual = _inputs(b=1, n=1, c=4)
    fused, _ = block(anchors, visual)
    shift = block.anchor_value(anchors)[0, 0]  # (C,)
    expected = F.layer_norm(
        (visual + shift[None, :, None, None]).permute(0, 2, 3, 1), (4,)
    ).permute(0, 3, 1, 2)
    torch.testing.assert_close(fused, expected)


def test_alpha2_zero_keeps_the_visual_feature():
    block = VisualAnchorLearning(8)
    with torch.no_grad():
        block.alpha2.zero_()
    anchors, visual = _inputs()
    ref = F.layer_norm(visual.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)
    torch.testing.assert_close(block(anchors, visual)[0], ref)


def test_no_eq5_parameters_by_default_and_all_learn():
    """Eq. 8 as printed reads no P^V (Eq. 5), so by default ω_v2 and α₁
    are not built and every parameter gets a gradient."""
    block = VisualAnchorLearning(8)
    names = {n for n, _ in block.named_parameters()}
    assert 'alpha1' not in names and 'alpha2' in names
    assert not any(n.startswith('visual_value') for n in names)
    anchors, visual = _inputs()
    block(anchors, visual)[0].square().mean().backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None]
    assert missing == []


def test_eq5_by_hand():
    """Eq. 5 (Sec. 3.4): P^V = α₁ Softmax(Att^V) Flatten(ω_v2(V))ᵀ, the
    softmax over the pixels, V = F¹.

    C = 2, one row of M = 2 pixels, F¹ = [[1, 3], [2, 0]] (channel-major).
    ω_v1 and ω_v2 are identity 1x1 convolutions, so both give the instance
    norm of F¹: [[-s, s], [s, -s]], s = 1/√(1 + 1e-5) (each channel has
    variance 1 over the two pixels). ω_p2 is the identity. Anchor 0 = 0
    gives Att = 0, so it pools the pixels half and half: P^V_0 = 0.
    Anchor 1 = [a, -a] gives Att = [-2as, 2as]/√2; with a = ln 3/(2√2·s)
    the softmax is [1/4, 3/4], so P^V_1 = α₁·[s/2, -s/2]. α₁ = 2."""
    block = VisualAnchorLearning(2, visual_anchors=True)
    with torch.no_grad():
        for lin in (block.anchor_key, block.anchor_value):
            torch.nn.init.eye_(lin.weight)
            lin.bias.zero_()
        for conv in (block.visual_key[0], block.visual_value[0]):
            conv.weight.copy_(torch.eye(2)[:, :, None, None])
            conv.bias.zero_()
        block.alpha1.fill_(2.0)
    s = 1 / math.sqrt(1 + 1e-5)
    a = math.log(3) / (2 * math.sqrt(2) * s)
    anchors = torch.tensor([[[0.0, 0.0], [a, -a]]])
    visual = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])  # (1, 2, 1, 2)
    att = block.activation(anchors, visual)
    torch.testing.assert_close(
        att.softmax(-1), torch.tensor([[[0.5, 0.5], [0.25, 0.75]]])
    )
    _, anchors_v = block(anchors, visual)
    expected = torch.tensor([[[0.0, 0.0], [s, -s]]])
    torch.testing.assert_close(anchors_v, expected)


def test_eq5_leaves_the_fused_feature_alone_and_all_learn():
    """Eq. 5 adds P^V; F (Eq. 6-7) is the same function of the shared
    weights, and with P^V in the loss every parameter gets a gradient."""
    plain = VisualAnchorLearning(8)
    block = VisualAnchorLearning(8, visual_anchors=True)
    names = {n for n, _ in block.named_parameters()}
    assert 'alpha1' in names and 'visual_value.0.weight' in names
    missing, _ = plain.load_state_dict(block.state_dict(), strict=False)
    assert missing == []
    anchors, visual = _inputs()
    fused, anchors_v = block(anchors, visual)
    torch.testing.assert_close(fused, plain(anchors, visual)[0])
    (fused.square().mean() + anchors_v.square().mean()).backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None]
    assert missing == []
