import math

import torch
import torch.nn.functional as F

from mmgres.models.layers import LinguisticAnchorLearning
from mmgres.models.layers.raam import masked_softmax
from mmgres.registry import MODELS


def _identity(block):
    for lin in (block.anchor_query, block.text_key, block.text_value):
        torch.nn.init.eye_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
    return block


def test_registered_and_shapes():
    block = MODELS.build(
        dict(type='LinguisticAnchorLearning', text_channels=8)
    )
    out = block(torch.randn(2, 16, 8), torch.randn(2, 5, 8))
    assert out.shape == (2, 16, 8)


def test_eq1_by_hand():
    # identity projections: Att = P Lᵀ / √C
    block = _identity(LinguisticAnchorLearning(2))
    anchors = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]])
    words = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    att = block.activation(anchors, words)
    s = math.sqrt(2.0)
    expected = torch.tensor([[[2 / s, 0.0, 1 / s], [0.0, 6 / s, 3 / s]]])
    torch.testing.assert_close(att, expected)


def test_eq2_matches_the_formula():
    block = _identity(LinguisticAnchorLearning(3))
    anchors = torch.tensor([[[1.0, 0.0, -1.0]]])
    words = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]]])
    # Att = [2, -1] / √3 ; softmax ; P + Σ a_t L_t ; LayerNorm
    a = torch.tensor([2.0, -1.0]) / math.sqrt(3.0)
    w = a.exp() / a.exp().sum()
    mixed = (
        torch.tensor([1.0, 0.0, -1.0])
        + w[0] * words[0, 0]
        + w[1] * words[0, 1]
    )
    expected = F.layer_norm(mixed, (3,))
    torch.testing.assert_close(block(anchors, words)[0, 0], expected)


def test_padded_words_are_ignored():
    torch.manual_seed(0)
    block = LinguisticAnchorLearning(8).eval()
    anchors, words = torch.randn(2, 4, 8), torch.randn(2, 5, 8)
    pad = torch.tensor([[False] * 3 + [True] * 2, [False] * 5])
    out1 = block(anchors, words, pad)
    words[0, 3:] = 1e3
    out2 = block(anchors, words, pad)
    torch.testing.assert_close(out1, out2)


def test_masked_softmax_all_padded_row_is_uniform():
    w = masked_softmax(torch.randn(1, 2, 3), torch.ones(1, 3).bool())
    torch.testing.assert_close(w, torch.full((1, 2, 3), 1 / 3))
