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


def test_align_corners_is_the_upsampling_mode():
    """InstanceVG's UnetDecoder upsamples with align_corners=True (its
    release config sets it); ours defaults to False. The row [0, 1]
    upsampled to 4 columns: [0, 1/3, 2/3, 1] with align_corners, else
    [0, 0.25, 0.75, 1]."""
    x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    skip = torch.zeros(1, 1, 4, 4)
    for align, row in (
        (True, [0, 1 / 3, 2 / 3, 1]),
        (False, [0, 0.25, 0.75, 1]),
    ):
        dec = UNetMaskDecoder(
            in_channels=1, num_levels=2, feat_channels=1, align_corners=align
        )
        # the stage is the identity: its input is [upsampled x; skip]
        out = dec.stage_forward(torch.nn.Identity(), x, skip)
        torch.testing.assert_close(out[0, 0, 0], torch.tensor(row))
    assert UNetMaskDecoder().align_corners is False
