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
    assert fused.shape == visual.shape and anchors_v.shape == anchors.shape


def test_eq4_to_7_match_the_formulas():
    block = VisualAnchorLearning(8, alpha_init=0.7)
    anchors, visual = _inputs()
    fused, anchors_v = block(anchors, visual)
    # Eq. 4
    k = block.visual_key(visual).flatten(2)
    att = block.anchor_key(anchors) @ k / math.sqrt(8)
    torch.testing.assert_close(block.activation(anchors, visual), att)
    # Eq. 5: anchors pool the pixels (softmax over the pixels)
    v = block.visual_value(visual).flatten(2)
    ref_pv = 0.7 * torch.einsum('bnm,bcm->bnc', att.softmax(-1), v)
    torch.testing.assert_close(anchors_v, ref_pv)
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


def test_alpha_zero_and_fixed_alphas():
    block = VisualAnchorLearning(8, alpha_init=0.0)
    anchors, visual = _inputs()
    fused, anchors_v = block(anchors, visual)
    assert torch.count_nonzero(anchors_v) == 0  # α₁ = 0
    ref = F.layer_norm(visual.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)
    torch.testing.assert_close(fused, ref)  # α₂ = 0
    fixed = VisualAnchorLearning(8, with_alpha1=False, with_alpha2=False)
    names = dict(fixed.named_parameters())
    assert 'alpha1' not in names and 'alpha2' not in names
    assert float(fixed.alpha1) == float(fixed.alpha2) == 1.0
    assert 'alpha1' in dict(VisualAnchorLearning(8).named_parameters())


def test_value_map_is_used_for_the_anchors_only():
    block = VisualAnchorLearning(8)
    anchors, visual = _inputs()
    f1, pv1 = block(anchors, visual)
    f2, pv2 = block(anchors, visual, value=visual * 3 + 1)
    torch.testing.assert_close(f1, f2)
    assert not torch.allclose(pv1, pv2)
