import math

import pytest
import torch

from mmgres.models.losses import region_presence_targets
from mmgres.models.losses.region_presence_loss import region_index
from mmgres.registry import MODELS


def test_targets_on_a_hand_drawn_mask():
    # 8×8 mask, 4×4 grid of 2×2 cells
    mask = torch.tensor(
        [
            [0, 0, 0, 0, 0, 0, 0, 1],  # one pixel in cell (0, 3)
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 1, 1, 1, 0, 0, 0],  # a bar over cells (1, 1), (1, 2)
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [1, 0, 0, 0, 0, 0, 0, 0],  # cell (3, 0)
        ]
    )
    expected = torch.tensor(
        [
            [0, 0, 0, 1],
            [0, 1, 1, 0],
            [0, 0, 0, 0],
            [1, 0, 0, 0],
        ],
        dtype=torch.float,
    ).flatten()
    torch.testing.assert_close(region_presence_targets(mask), expected)
    batch = torch.stack([mask, torch.zeros_like(mask)])
    out = region_presence_targets(batch.bool())
    assert out.shape == (2, 16)
    torch.testing.assert_close(out[0], expected)
    assert out[1].sum() == 0  # no target: every region negative


def test_targets_when_the_size_does_not_divide():
    assert region_index(6, 4).tolist() == [0, 0, 1, 2, 2, 3]
    mask = torch.zeros(6, 6)
    mask[2, 5] = 1  # row 2 -> region row 1; column 5 -> region column 3
    mask[5, 0] = 1  # row 5 -> region row 3; column 0 -> 0
    targets = region_presence_targets(mask, (4, 4)).reshape(4, 4)
    assert targets.nonzero().tolist() == [[1, 3], [3, 0]]
    assert region_presence_targets(mask, (2, 3)).tolist() == [
        0.0,
        0.0,
        1.0,
        1.0,
        0.0,
        0.0,
    ]


def test_loss_is_the_sum_of_region_ces():
    loss = MODELS.build(dict(type='RegionPresenceLoss', loss_weight=2.0))
    logits = torch.zeros(3, 16)
    targets = torch.randint(0, 2, (3, 16)).float()
    # every region: CE(0 logit) = ln 2; summed over 16, mean over batch
    torch.testing.assert_close(
        loss(logits, targets), torch.tensor(2.0 * 16 * math.log(2.0))
    )
    logits = torch.tensor([[3.0, -2.0]])
    targets = torch.tensor([[1.0, 1.0]])
    expected = math.log(1 + math.exp(-3.0)) + math.log(1 + math.exp(2.0))
    per = loss(logits, targets, reduction_override='none')
    assert per.shape == (1,)
    assert per.item() == pytest.approx(2.0 * expected, rel=1e-6)
    w = loss(
        torch.zeros(2, 4), torch.zeros(2, 4), weight=torch.tensor([1.0, 0.0])
    )
    assert w.item() == pytest.approx(2.0 * 4 * math.log(2.0) / 2, rel=1e-6)
