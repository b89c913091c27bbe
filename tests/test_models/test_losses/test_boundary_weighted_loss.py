import math

import pytest
import torch

from mmgres.models.losses import boundary_band
from mmgres.registry import MODELS


def test_band_of_a_square_in_the_middle():
    mask = torch.zeros(1, 6, 6)
    mask[0, 1:4, 1:4] = 1
    expected = torch.tensor(
        [
            [1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 0],
            [1, 1, 0, 1, 1, 0],
            [1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 0],
        ],
        dtype=torch.float,
    )
    torch.testing.assert_close(boundary_band(mask)[0], expected)


def test_band_at_the_image_border():
    # the image border is not an object boundary
    mask = torch.zeros(1, 5, 5)
    mask[0, :3, :3] = 1
    expected = torch.tensor(
        [
            [0, 0, 1, 1, 0],
            [0, 0, 1, 1, 0],
            [1, 1, 1, 1, 0],
            [1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=torch.float,
    )
    torch.testing.assert_close(boundary_band(mask.bool())[0], expected)


def test_band_with_a_larger_kernel():
    mask = torch.zeros(1, 9, 9)
    mask[0, 2:7, 2:7] = 1  # 5×5 square
    band = boundary_band(mask, kernel_size=5)[0]
    # dilate: rows/cols 0-8 (81 px); erode: the centre pixel (4, 4)
    expected = torch.ones(9, 9)
    expected[4, 4] = 0
    torch.testing.assert_close(band, expected)
    with pytest.raises(ValueError):
        boundary_band(mask, kernel_size=4)


def test_loss_by_hand():
    # a 1×4 image, target [1, 1, 0, 0], every logit 0 (p = 0.5)
    target = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    pred = torch.zeros(1, 1, 4)
    loss = MODELS.build(dict(type='BoundaryWeightedLoss', beta=1.2))
    # band = dilate [1,1,1,0] - erode [1,0,0,0] = [0,1,1,0]
    torch.testing.assert_close(
        loss.pixel_weights(target), torch.tensor([[[1.0, 1.2, 1.2, 1.0]]])
    )
    # focal: BCE = ln2, (1-p_t)^2 = 1/4, α_t = .25 (fg) / .75 (bg)
    focal = (2 * 0.25 + 2 * 0.75) * 0.25 * math.log(2.0) / 4
    # dice: Σwpg = .5 + .6 = 1.1, Σwp = 2.2, Σwg = 2.2, ε = 1
    dice = 1 - (2 * 1.1 + 1) / (2.2 + 2.2 + 1)
    assert loss(pred, target).item() == pytest.approx(focal + dice, rel=1e-6)
    plain = MODELS.build(dict(type='BoundaryWeightedLoss', beta=1.0))
    assert plain(pred, target).item() == pytest.approx(
        focal + 1 - 3 / 5, rel=1e-6
    )
    # (B, 1, H, W) inputs and loss_weight
    double = MODELS.build(dict(type='BoundaryWeightedLoss', loss_weight=2.0))
    assert double(pred[:, None], target[:, None]).item() == pytest.approx(
        2 * (focal + dice), rel=1e-6
    )


def test_loss_prefers_the_right_mask_and_weights_the_band():
    target = torch.zeros(2, 8, 8)
    target[0, 2:6, 2:6] = 1  # sample 1 is a no-target sample
    loss = MODELS.build(dict(type='BoundaryWeightedLoss'))
    good = loss((target * 2 - 1) * 10, target)
    bad = loss(-(target * 2 - 1) * 10, target)
    assert good.item() < 0.05 < bad.item()
    # an error on the band costs more than the same error off it
    pred = (target * 2 - 1) * 10
    on_band, off_band = pred.clone(), pred.clone()
    on_band[0, 2, 3] = -10  # contour pixel of the object
    off_band[0, 4, 4] = -10  # interior pixel
    assert loss(on_band, target) > loss(off_band, target)
    per = loss(pred, target, reduction_override='none')
    assert per.shape == (2,)
