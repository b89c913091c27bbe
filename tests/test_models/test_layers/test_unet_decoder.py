import pytest
import torch

from mmgres.models.layers import UNetMaskDecoder
from mmgres.registry import MODELS

DEFAULT_ARGS = dict(
    type='UNetMaskDecoder',
    in_channels=16,
    feat_channels=8,
    norm_cfg=dict(type='GN', num_groups=4),
)


def _pyramid(b=2, c=16, size=16):
    # SimFPN-like levels at strides 4, 8, 16, 32 of a (4 * size)^2 image
    torch.manual_seed(0)
    return [torch.randn(b, c, size >> i, size >> i) for i in range(4)]


def test_shapes():
    dec = MODELS.build(DEFAULT_ARGS)
    s_global, mask = dec(_pyramid())
    assert s_global.shape == (2, 8, 16, 16)  # stride 4
    assert mask.shape == (2, 1, 16, 16)
    assert len(dec.stages) == 3


def test_every_level_feeds_s_global():
    dec = MODELS.build(DEFAULT_ARGS).eval()
    feats = [f.requires_grad_() for f in _pyramid(b=1)]
    s_global, mask = dec(feats)
    grads = torch.autograd.grad(mask.sum(), feats)
    assert all(g.abs().sum() > 0 for g in grads)


def test_uneven_sizes_and_channels():
    dec = UNetMaskDecoder(
        in_channels=[4, 8, 16, 16],
        feat_channels=8,
        num_convs=1,
        norm_cfg=None,
    )
    feats = [torch.randn(1, c, s, s) for c, s in [(4, 13), (8, 7), (16, 4)]]
    feats.append(torch.randn(1, 16, 2, 2))
    s_global, mask = dec(feats)
    assert s_global.shape == (1, 8, 13, 13)
    with pytest.raises(ValueError, match='4 levels'):
        dec(feats[:3])


def test_text_gating():
    dec = MODELS.build(dict(DEFAULT_ARGS, text_channels=6)).eval()
    feats = _pyramid(b=1)
    text = torch.randn(1, 3, 6)
    pad = torch.tensor([[False, False, True]])
    a, _ = dec(feats, text_feats=text, text_padding_mask=pad)
    # only the real words matter ...
    text2 = text.clone()
    text2[0, 2] = 50.0
    b, _ = dec(feats, text_feats=text2, text_padding_mask=pad)
    torch.testing.assert_close(a, b)
    # ... and they do change S_global
    c, _ = dec(feats, sentence_feat=torch.randn(1, 6) * 5)
    assert not torch.allclose(a, c)
    # the gate is a channel-wise sigmoid in (0, 1) of the pooled words
    gates = dec._gates(text, pad, None)
    manual = torch.sigmoid(dec.text_gates[0](text[:, :2].mean(1)))
    torch.testing.assert_close(gates[0][:, :, 0, 0], manual)
    with pytest.raises(ValueError, match='text_feats'):
        dec(feats)
