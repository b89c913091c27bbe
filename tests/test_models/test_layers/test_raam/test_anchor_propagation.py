import pytest
import torch
import torch.nn.functional as F

from mmgres.models.layers import AnchorPropagation
from mmgres.registry import MODELS


def _identity(block):
    torch.nn.init.eye_(block.proj.weight)
    torch.nn.init.zeros_(block.proj.bias)
    return block


def test_eq8_from_the_visual_anchors():
    block = _identity(MODELS.build(dict(type='AnchorPropagation', channels=3)))
    p_cross = torch.tensor([[[1.0, 2.0, 3.0]]])
    p_v = torch.tensor([[[0.0, 0.0, 3.0]]])
    # LN(P^cross + P^V) = LN([1, 2, 6])
    expected = F.layer_norm(torch.tensor([1.0, 2.0, 6.0]), (3,))
    torch.testing.assert_close(block(p_cross, p_v)[0, 0], expected)


def test_eq8_as_printed_ignores_the_visual_anchors():
    block = _identity(AnchorPropagation(3, source='cross'))
    p_cross = torch.tensor([[[1.0, 2.0, 4.0]]])
    out = block(p_cross, torch.randn(1, 1, 3))
    expected = F.layer_norm(2 * p_cross, (3,))
    torch.testing.assert_close(out, expected)


def test_bad_source():
    with pytest.raises(ValueError):
        AnchorPropagation(3, source='words')
