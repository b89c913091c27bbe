"""TextGatedUNetMaskDecoder and SentenceNoTargetBranch."""

import pytest
import torch

from mmgres.registry import MODELS
from projects.igvg_extensions.igvg_extensions import (
    SentenceNoTargetBranch,
    TextGatedUNetMaskDecoder,
)

UNET = dict(
    type='TextGatedUNetMaskDecoder',
    in_channels=16,
    feat_channels=8,
    norm_cfg=dict(type='GN', num_groups=4),
    text_channels=6,
)
NT = dict(
    type='SentenceNoTargetBranch',
    in_channels=8,
    text_channels=6,
    feat_channels=16,
)


def _pyramid(b=1, c=16, size=16):
    torch.manual_seed(0)
    return [torch.randn(b, c, size >> i, size >> i) for i in range(4)]


def test_text_gating():
    dec = MODELS.build(UNET).eval()
    assert isinstance(dec, TextGatedUNetMaskDecoder)
    feats = _pyramid()
    text = torch.randn(1, 3, 6)
    pad = torch.tensor([[False, False, True]])
    a, _ = dec(feats, text_feats=text, text_padding_mask=pad)
    assert a.shape == (1, 8, 16, 16)
    # only the real words matter ...
    text2 = text.clone()
    text2[0, 2] = 50.0
    b, _ = dec(feats, text_feats=text2, text_padding_mask=pad)
    torch.testing.assert_close(a, b)
    # ... and they do change S_global
    text2[0, 0] = 50.0
    c, _ = dec(feats, text_feats=text2, text_padding_mask=pad)
    assert not torch.allclose(a, c)
    # one stage by hand: the plain stage output times sigmoid(Linear(mean))
    dec.text_gates = dec.text_gates[:1]
    x = dec.stage_forward(dec.stages[0], feats[3], feats[2])
    gate = torch.sigmoid(dec.text_gates[0](text[:, :2].mean(1)))
    expected = x * gate[:, :, None, None]
    dec.stages = dec.stages[:1]
    dec.in_channels = dec.in_channels[2:]
    out, _ = dec(feats[2:], text_feats=text, text_padding_mask=pad)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match='text_feats'):
        dec(feats)


def test_sentence_no_target_branch_by_hand():
    head = MODELS.build(NT).eval()
    assert isinstance(head, SentenceNoTargetBranch)
    maps = torch.randn(2, 8, 4, 4)
    text = torch.randn(2, 3, 6)
    pad = torch.tensor([[False, False, True], [False] * 3])
    logits = head(maps, text, pad)
    assert logits.shape == (2, 2)
    sentence = torch.stack([text[0, :2].mean(0), text[1].mean(0)])
    fused = torch.cat([head.pool(maps), head.text_fc(sentence)], -1)
    torch.testing.assert_close(logits, head.cls_fc(head.fuse_fc(fused)))
    # padding does not matter, words do
    text2 = text.clone()
    text2[0, 2] = 100.0
    torch.testing.assert_close(logits, head(maps, text2, pad))
    text2[0, 0] = 100.0
    assert not torch.allclose(logits[0], head(maps, text2, pad)[0])
    with pytest.raises(ValueError, match='text_feats'):
        head(maps)
    # the loss is the core branch's
    loss = head.loss(logits, [False, True])['loss_nt']
    assert loss > 0
