import pytest
import torch

from mmgres.models.necks import SimFPN
from mmgres.registry import MODELS

DEFAULT_ARGS = dict(type='SimFPN', in_channels=32, out_channels=16)


def test_shapes_and_strides():
    neck = MODELS.build(DEFAULT_ARGS)
    outs = neck(torch.randn(2, 32, 5, 6))  # a stride-16 map
    # strides 4, 8, 16, 32
    assert [tuple(o.shape) for o in outs] == [
        (2, 16, 20, 24),
        (2, 16, 10, 12),
        (2, 16, 5, 6),
        (2, 16, 2, 3),
    ]
    # ViTDet's channel schedule: C/4 at stride 4, C/2 at stride 8
    assert neck.lateral_convs[0].conv.in_channels == 8
    assert neck.lateral_convs[1].conv.in_channels == 16
    assert neck.lateral_convs[2].conv.in_channels == 32
    # stride 4: deconv, norm, GELU, deconv
    kinds = [type(m).__name__ for m in neck.stages[0]]
    assert kinds == [
        'ConvTranspose2d',
        'LayerNorm2d',
        'GELU',
        'ConvTranspose2d',
    ]
    assert isinstance(neck.stages[3], torch.nn.MaxPool2d)


def test_every_level_comes_from_the_one_input():
    torch.manual_seed(0)
    neck = MODELS.build(DEFAULT_ARGS).eval()
    x = torch.randn(1, 32, 4, 4, requires_grad=True)
    for level in neck((x,)):  # a one-element tuple, as a backbone gives
        (grad,) = torch.autograd.grad(level.sum(), x)
        assert grad.abs().sum() > 0
    # a change at one input position reaches every level
    with torch.no_grad():
        a = neck(x)
        y = x.clone()
        y[0, :, 1, 1] += 5.0
        b = neck(y)
    for la, lb in zip(a, b):
        assert not torch.allclose(la, lb)
    # the identity level at stride 16 sees the input untouched
    stage = neck.stages[2]
    assert isinstance(stage, torch.nn.Identity)


def test_layer_norm_is_over_channels():
    neck = MODELS.build(DEFAULT_ARGS)
    norm = neck.lateral_convs[2].norm
    y = norm(torch.randn(2, 16, 3, 3) * 7 + 3)
    torch.testing.assert_close(
        y.mean(1), torch.zeros(2, 3, 3), atol=1e-5, rtol=0
    )


def test_configurable_scales_and_norm():
    neck = SimFPN(
        in_channels=32,
        out_channels=8,
        scale_factors=(8.0, 1.0, 0.25),
        norm_cfg=dict(type='GN', num_groups=4),
        act_cfg=dict(type='ReLU'),
    )
    outs = neck(torch.randn(1, 32, 4, 4))
    assert [o.shape[-1] for o in outs] == [32, 4, 1]
    assert neck.lateral_convs[0].conv.in_channels == 4  # halved 3 times
    assert all(o.min() >= 0 for o in outs)  # ReLU after the 3x3 convs
    with pytest.raises(ValueError, match='powers of two'):
        SimFPN(in_channels=32, scale_factors=(3.0,))
    with pytest.raises(ValueError, match='one feature map'):
        neck([torch.randn(1, 32, 4, 4)] * 2)
