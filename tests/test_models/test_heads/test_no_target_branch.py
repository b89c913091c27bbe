import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample

from mmgres.models.heads import NoTargetBranch
from mmgres.registry import MODELS

DEFAULT_ARGS = dict(type='NoTargetBranch', in_channels=8, feat_channels=16)


def test_default_is_instancevgs_pixel_mlp_then_mean():
    """IGVG Sec. 3: S_global guides the non-target prediction. InstanceVG:
    ``nt_embed`` = MLP(C, C, 2, 3 layers) on every pixel of S_global, then
    the mean over the pixels; no text. Here two 1x1 conv + ReLU layers per
    pixel, the mean, then the last linear layer (which commutes with the
    mean): the same function."""
    head = MODELS.build(DEFAULT_ARGS).eval()
    assert not any('text' in n for n, _ in head.named_parameters())
    maps = torch.randn(2, 8, 5, 5)
    logits = head(maps)
    assert logits.shape == (2, 2)
    conv0, conv1 = head.pixel_mlp[0], head.pixel_mlp[2]
    pixels = maps.flatten(2).transpose(1, 2)  # (B, HW, C)
    hidden = F.relu(F.linear(pixels, conv0.weight[:, :, 0, 0], conv0.bias))
    hidden = F.relu(F.linear(hidden, conv1.weight[:, :, 0, 0], conv1.bias))
    expected = head.cls_fc(hidden).mean(1)  # InstanceVG: MLP, then mean
    torch.testing.assert_close(logits, expected)
    with pytest.raises(ValueError, match='B, C, H, W'):
        head(pixels)


def test_plain_average_pooling():
    head = NoTargetBranch(in_channels=8, num_pixel_convs=0)
    maps = torch.randn(2, 8, 4, 4)
    expect = head.cls_fc(maps.mean(dim=(2, 3)))
    torch.testing.assert_close(head(maps), expect)


def test_weighted_ce_by_hand():
    """ReLA's and InstanceVG's class weights [0.9, 1.1] (InstanceVG:
    refer_ce_loss(nt_label, is_empty, [0.9, 1.1]))."""
    head = MODELS.build(DEFAULT_ARGS)
    assert head.loss_cls.class_weight == [0.9, 1.1]
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    loss = head.loss(logits, torch.tensor([False, True]))['loss_nt']
    l0 = math.log(1 + math.exp(-2))  # target, class 0: 0.1269
    l1 = math.log(1 + math.exp(-1))  # no target, class 1: 0.3133
    expect = (0.9 * l0 + 1.1 * l1) / (0.9 + 1.1)
    assert abs(loss.item() - expect) < 1e-5
    assert abs(expect - 0.2294117) < 1e-6
    # the same as torch's weighted cross-entropy, as ReLA computes it
    ref = F.cross_entropy(
        logits, torch.tensor([0, 1]), weight=torch.tensor([0.9, 1.1])
    )
    torch.testing.assert_close(loss, ref)
    # a batch of one class only: the weight cancels out
    one = head.loss(logits[:1], [False])['loss_nt']
    assert abs(one.item() - l0) < 1e-5
    with pytest.raises(ValueError, match='labels'):
        head.loss(logits, [True])


def test_loss_weight_and_samples():
    head = MODELS.build(
        dict(
            DEFAULT_ARGS,
            loss_cls=dict(
                type='CrossEntropyLoss',
                class_weight=[0.9, 1.1],
                loss_weight=0.2,
            ),
        )
    )
    logits = torch.randn(3, 2, requires_grad=True)
    samples = []
    for nt in (True, False, True):
        s = DetDataSample()
        s.set_metainfo(dict(no_target=nt))
        samples.append(s)
    loss = head.loss_by_samples(logits, samples)['loss_nt']
    ref = 0.2 * F.cross_entropy(
        logits, torch.tensor([1, 0, 1]), weight=torch.tensor([0.9, 1.1])
    )
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert logits.grad is not None
