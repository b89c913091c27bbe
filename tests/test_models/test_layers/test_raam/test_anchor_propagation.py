import pytest
import torch
import torch.nn.functional as F

from mmgres.models.layers import AnchorPropagation
from mmgres.registry import MODELS


def _identity(block):
    with torch.no_grad():
        torch.nn.init.eye_(block.proj.weight)  # ω_p4 = identity
        block.proj.bias.zero_()
    return block


def test_eq8_as_printed_by_hand():
    """Eq. 8 (Sec. 3.4): P_i = Norm(P^cross + ω_p4(P^cross))."""
    block = MODELS.build(dict(type='AnchorPropagation', channels=3))
    assert isinstance(block, AnchorPropagation) and block.source == 'cross'
    _identity(block)
    p_cross = torch.tensor([[[1.0, 2.0, 4.0]]])
    # LN([2, 4, 8]): mean 14/3, variance 56/9 (biased), ε = 1e-5
    mean, var = 14 / 3, 56 / 9
    expected = (torch.tensor([2.0, 4.0, 8.0]) - mean) / (var + 1e-5) ** 0.5
    torch.testing.assert_close(block(p_cross)[0, 0], expected)
    # P^V is not read by the printed form
    p_v = torch.tensor([[[0.0, 0.0, 3.0]]])
    torch.testing.assert_close(block(p_cross, p_v)[0, 0], expected)


def test_eq8_visual_reading_by_hand():
    """Eq. 8 read as Norm(P^cross + ω_p4(P^V)), with Eq. 5's P^V."""
    block = _identity(AnchorPropagation(3, source='visual'))
    p_cross = torch.tensor([[[1.0, 2.0, 4.0]]])
    p_v = torch.tensor([[[0.0, 0.0, 3.0]]])
    # LN([1, 2, 7]): mean 10/3, variance 62/9 (biased), ε = 1e-5
    mean, var = 10 / 3, 62 / 9
    expected = (torch.tensor([1.0, 2.0, 7.0]) - mean) / (var + 1e-5) ** 0.5
    torch.testing.assert_close(block(p_cross, p_v)[0, 0], expected)
    with pytest.raises(ValueError, match='anchors_v'):
        block(p_cross)


def test_eq8_proj_is_residual_on_the_cross_anchors():
    block = AnchorPropagation(4)
    p_cross = torch.randn(2, 16, 4)
    expected = F.layer_norm(p_cross + block.proj(p_cross), (4,))
    torch.testing.assert_close(block(p_cross), expected)


def test_unknown_source():
    with pytest.raises(ValueError, match='source'):
        AnchorPropagation(4, source='both')
