import math

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample

from mmgres.models.heads import NoTargetBranch
from mmgres.registry import MODELS

DEFAULT_ARGS = dict(
    type='NoTargetBranch', in_channels=8, text_channels=6, feat_channels=16
)


def test_forward_shapes_maps_and_tokens():
    head = MODELS.build(DEFAULT_ARGS)
    text = torch.randn(2, 4, 6)
    pad = torch.tensor([[False] * 4, [False, False, True, True]])
    logits = head(torch.randn(2, 8, 5, 5), text, pad)
    assert logits.shape == (2, 2)
    # image tokens (B, N, C) work as a 1-pixel-wide map
    maps = torch.randn(2, 8, 3, 3)
    tokens = maps.flatten(2).transpose(1, 2)
    torch.testing.assert_close(head(tokens, text, pad), head(maps, text, pad))
    with pytest.raises(ValueError, match='text_feats'):
        head(maps)


def test_text_matters_and_padding_does_not():
    head = MODELS.build(DEFAULT_ARGS).eval()
    maps = torch.randn(1, 8, 4, 4)
    text = torch.randn(1, 3, 6)
    pad = torch.tensor([[False, False, True]])
    a = head(maps, text, pad)
    text2 = text.clone()
    text2[0, 2] = 100.0
    torch.testing.assert_close(a, head(maps, text2, pad))
    text2[0, 0] = 100.0
    assert not torch.allclose(a, head(maps, text2, pad))


def test_visual_only():
    head = NoTargetBranch(in_channels=8, text_channels=None, num_pixel_convs=0)
    maps = torch.randn(2, 8, 4, 4)
    expect = head.cls_fc(maps.mean(dim=(2, 3)))
    torch.testing.assert_close(head(maps), expect)


def test_weighted_ce_by_hand():
    head = MODELS.build(DEFAULT_ARGS)
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


def test_predict():
    head = MODELS.build(dict(DEFAULT_ARGS, score_thr=0.6))
    logits = torch.tensor([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    score, no_target = head.predict(logits)
    torch.testing.assert_close(
        score, torch.tensor([0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.e**3)])
    )
    assert no_target.tolist() == [False, True, False]
