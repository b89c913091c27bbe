import math

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.losses import ClassWeightedBCELoss
from mmgres.registry import MODELS


def test_hand_computed():
    """(w_t softplus(-x_t) + w_b softplus(x_b)) / (w_t + w_b)."""
    loss = ClassWeightedBCELoss(class_weight=(0.9, 1.1))
    # both BCEs log 2: the weighted mean is log 2 whatever the weights
    got = loss(torch.zeros(2), torch.tensor([True, False]))
    torch.testing.assert_close(got, torch.tensor(math.log(2)))
    got = loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))
    expected = (1.1 * math.log1p(math.exp(-2.0)) + 0.9 * math.log(2)) / 2.0
    torch.testing.assert_close(got, torch.tensor(expected))
    # loss_weight scales; the class weights are a ratio (1, 3) = (2, 6)
    x, t = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.0])
    a = ClassWeightedBCELoss(class_weight=(1, 3), loss_weight=2.0)(x, t)
    b = ClassWeightedBCELoss(class_weight=(2, 6))(x, t)
    sp = F.softplus
    expected = (3 * sp(torch.tensor(-0.5)) + sp(torch.tensor(-1.0))) / 4
    torch.testing.assert_close(a, 2 * expected)
    torch.testing.assert_close(b, expected)


def test_equals_relas_two_class_cross_entropy():
    """ReLA's criterion.py: F.cross_entropy with class weights [0.9, 1.1]
    over (background, target) logits [0, x]."""
    torch.manual_seed(0)
    logits = torch.randn(2, 8, 8)
    gt = torch.rand(2, 8, 8) > 0.6
    two_class = torch.stack([torch.zeros_like(logits), logits], 1)
    relas = F.cross_entropy(
        two_class, gt.long(), weight=torch.tensor([0.9, 1.1])
    )
    loss = MODELS.build(
        dict(type='ClassWeightedBCELoss', class_weight=(0.9, 1.1))
    )
    torch.testing.assert_close(loss(logits, gt), relas)


@pytest.mark.parametrize('class_weight', [(1.0,), (1.0, -0.1), (0.0, 0.0)])
def test_invalid_class_weight(class_weight):
    with pytest.raises(ValueError, match='class_weight'):
        ClassWeightedBCELoss(class_weight=class_weight)
