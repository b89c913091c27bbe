import math

import pytest
import torch

from mmgres.models.layers import DistScorePointSelector, indices_to_points
from mmgres.registry import MODELS

# Two blobs: a big one top-left (indices 0, 1, 4, 5) and a weaker one at
# (row 2, col 3), index 11. PROBS are the probabilities; the selector
# takes the logits MAP and applies the sigmoid itself.
PROBS = torch.tensor(
    [
        [0.90, 0.85, 0.10, 0.10],
        [0.80, 0.70, 0.10, 0.10],
        [0.10, 0.10, 0.10, 0.65],
        [0.10, 0.10, 0.10, 0.10],
    ]
)
MAP = torch.logit(PROBS)
PER_PIXEL = math.sqrt(32)  # distances per diagonal of the 4 x 4 map


def _selector(**kwargs):
    args = dict(num_points=3, dist_weight=0.1 * PER_PIXEL)
    args.update(kwargs)
    return DistScorePointSelector(**args)


def test_topk_picks_the_cluster():
    idx, _ = _selector(mode='topk')(MAP[None])
    # the three largest values 0.90, 0.85, 0.80 are all in the top-left blob
    assert idx.tolist() == [[0, 1, 4]]


def test_dps_hand_worked_spreads_the_points():
    """W_dist = 0.1 per map pixel (0.1 * sqrt(32) per diagonal), x = col,
    y = row, on the probabilities.

    Step 1: argmax M = index 0 (0.90) at (0, 0).
    Step 2: S = M + 0.1 * dist to (0, 0):
        idx 1  (0, 1): 0.85 + 0.1 * 1       = 0.950
        idx 4  (1, 0): 0.80 + 0.1 * 1       = 0.900
        idx 5  (1, 1): 0.70 + 0.1 * sqrt(2) = 0.841
        idx 11 (2, 3): 0.65 + 0.1 * sqrt(13) = 1.011  <- best
        idx 15 (3, 3): 0.10 + 0.1 * sqrt(18) = 0.524
    Step 3: D = min distance to {(0, 0), (2, 3)}:
        idx 1: min(1, sqrt(8))  = 1     -> 0.950  <- best
        idx 4: min(1, sqrt(10)) = 1     -> 0.900
        idx 5: min(sqrt(2), sqrt(5))    -> 0.841
        idx 12 (3, 0): min(3, sqrt(10)) -> 0.100 + 0.3 = 0.400
    So DPS picks [0, 11, 1]; top-k picks [0, 1, 4].
    """
    idx, points = _selector()(MAP[None])
    assert idx.tolist() == [[0, 11, 1]]
    # pixel centres, normalised: (col + 0.5) / 4, (row + 0.5) / 4
    expected = torch.tensor([[[0.125, 0.125], [0.875, 0.625], [0.375, 0.125]]])
    torch.testing.assert_close(points, expected)


def test_dps_distance_is_per_diagonal_as_instancevg():
    """InstanceVG divides the distances by sqrt(h² + w²): its W_dist = 0.003
    (the default) is far too small to beat the 0.05 gap here, so DPS then
    behaves like top-k; 0.1 per pixel without the division would not."""
    sel = _selector(dist_weight=0.003)
    assert sel.dist_weight == DistScorePointSelector().dist_weight
    assert sel(MAP[None])[0].tolist() == [[0, 1, 4]]


def test_batch_equals_each_sample_alone():
    other = MAP.t().contiguous()  # the transposed map: blob at (3, 2)
    sel = _selector(num_points=5)
    batch_idx, batch_pts = sel(torch.stack([MAP, other]))
    for i, m in enumerate([MAP, other]):
        idx, pts = sel(m[None])
        assert batch_idx[i].tolist() == idx[0].tolist()
        torch.testing.assert_close(batch_pts[i], pts[0])
    # transposing maps (r, c) -> (c, r): 0 -> 0, 11 (2, 3) -> 14, 1 -> 4
    assert batch_idx[1, :3].tolist() == [0, 14, 4]
    assert len(set(batch_idx[0].tolist())) == 5  # no repeats


def test_sigmoid_is_applied_to_the_logits():
    """Algorithm 1, line 1: the distance term is added to sigmoid(M). On the
    raw logits the same weight cannot lift the weak blob: index 1 scores
    logit(0.85) + 0.1 = 1.835 against logit(0.65) + 0.1·√13 = 0.979 for
    index 11, and the greedy picks stay in the big blob."""
    sel = _selector()
    assert sel(MAP[None])[0].tolist() == [[0, 11, 1]]
    assert sel._greedy(MAP.flatten()[None], (4, 4)).tolist() == [[0, 1, 4]]


def test_invalid_cells_are_avoided_until_exhausted():
    valid = torch.ones(1, 4, 4, dtype=torch.bool)
    valid[0, 2:, :] = False  # bottom half is padding
    idx, _ = _selector()(MAP[None], valid)
    # index 11 is out; from {0}: 1 -> 0.95, 4 -> 0.90, 3 (0, 3) -> 0.1 + 0.3
    # then from {0, 1}: 4 -> 0.90 beats 3 (dist 2) -> 0.30 and 5 -> 0.80
    assert idx.tolist() == [[0, 1, 4]]
    # all 8 valid cells come before any invalid one
    idx, _ = _selector(num_points=9)(MAP[None], valid)
    assert sorted(idx[0, :8].tolist()) == list(range(8))
    assert idx[0, 8].item() >= 8


def test_too_many_points_raise():
    with pytest.raises(AssertionError):
        _selector(num_points=17)(MAP[None])


def test_indices_to_points_uses_pixel_centres():
    pts = indices_to_points(torch.tensor([[0, 5, 11]]), (3, 4))
    # 5 -> row 1, col 1; 11 -> row 2, col 3
    expected = torch.tensor([[[1 / 8, 1 / 6], [3 / 8, 3 / 6], [7 / 8, 5 / 6]]])
    torch.testing.assert_close(pts, expected)


def test_built_from_registry_and_no_grad():
    sel = MODELS.build(dict(type='DistScorePointSelector', num_points=2))
    m = torch.randn(2, 3, 3, requires_grad=True)
    idx, pts = sel(m)
    assert idx.shape == (2, 2) and pts.shape == (2, 2, 2)
    assert not pts.requires_grad
