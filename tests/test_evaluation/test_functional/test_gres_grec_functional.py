"""GRES and GREC arithmetic on hand-worked numbers."""

import math

import numpy as np
import pytest

from mmgres.evaluation.functional import (
    compute_grec_metrics,
    compute_gres_metrics,
    grec_f1,
    grec_sample,
    greedy_match_count,
    gres_sample,
)


@pytest.mark.parametrize(
    'gt_nt, pred_nt, counts, expected',
    [
        # TP: no target, predicted none; its stray pixels are ignored.
        (True, True, (0, 5, 0), (1.0, 0, 0)),
        # FN: no target, predicted a 5-pixel mask: U += 5.
        (True, False, (0, 5, 0), (0.0, 0, 5)),
        # FP: target (4 px), predicted none, mask (5 px) overlaps by 3:
        # I += 0, U += 5 + 4 - 3 = 6.
        (False, True, (3, 5, 4), (0.0, 0, 6)),
        # TN: I 3, U 6 -> 0.5.
        (False, False, (3, 5, 4), (0.5, 3, 6)),
        # TN with an empty union -> IoU 0.
        (False, False, (0, 0, 0), (0.0, 0, 0)),
    ],
)
def test_gres_sample_rows(gt_nt, pred_nt, counts, expected):
    assert gres_sample(gt_nt, pred_nt, *counts) == expected


def test_compute_gres_metrics():
    records = [
        (0, 0, 3, 4, 3),  # TN, I 3 U 4, IoU 0.75
        (0, 1, 2, 4, 4),  # FP, I 0 U 6
        (1, 0, 0, 3, 0),  # FN, U 3
        (1, 1, 0, 1, 0),  # TP, IoU 1
        (0, 0, 4, 4, 4),  # TN, IoU 1
    ]
    result = compute_gres_metrics(records, pr_thrs=(0.75, 0.8))
    assert result['gIoU'] == pytest.approx(55.0)
    assert result['cIoU'] == pytest.approx(700 / 17)
    assert result['N_acc'] == 50.0
    assert result['T_acc'] == pytest.approx(200 / 3)
    assert result['Pr@0.75'] == pytest.approx(200 / 3)  # >= counts
    assert result['Pr@0.8'] == pytest.approx(100 / 3)


def test_compute_gres_metrics_all_tp():
    result = compute_gres_metrics([(1, 1, 0, 0, 0)])
    assert result['gIoU'] == 100.0 and result['N_acc'] == 100.0
    assert math.isnan(result['cIoU']) and math.isnan(result['T_acc'])
    assert math.isnan(result['Pr@0.7'])


def test_greedy_match_is_greedy_not_optimal():
    # Greedy takes (0, 0) = 0.9; the rest, (1, 1) = -0.2, fails. An optimal
    # assignment ((0, 1) and (1, 0)) would find 2.
    assert greedy_match_count([[0.9, 0.6], [0.8, -0.2]], 0.5) == 1
    assert greedy_match_count(np.zeros((0, 3)), 0.5) == 0
    # One-to-one: three predictions on one target.
    assert greedy_match_count([[0.9], [0.95], [0.99]], 0.5) == 1
    # Threshold is inclusive.
    assert greedy_match_count([[0.5]], 0.5) == 1


def test_grec_sample_giou_and_scores():
    # p0 exact on g0 (GIoU 1); p1 = [0,0,10,4] vs g1 = [1,1,11,5]:
    # IoU 27/53 = 0.509, GIoU = 27/53 - 2/55 = 0.473; p2 score 0.69 dropped.
    kept, num_gt, tps = grec_sample(
        [[0, 20, 10, 30], [0, 0, 10, 4], [1, 1, 11, 5]],
        [0.7, 0.9, 0.69],
        [[0, 20, 10, 30], [1, 1, 11, 5]],
        iou_thrs=(0.5, 0.47),
    )
    assert (kept, num_gt, tps) == (2, 2, (1, 2))
    assert grec_sample(None, None, [[0, 0, 1, 1]]) == (0, 1, (0,))


def test_grec_f1():
    assert grec_f1(True, 0, 0, 0) == 1.0
    assert grec_f1(True, 1, 0, 0) == 0.0
    assert grec_f1(False, 2, 3, 2) == pytest.approx(0.8)  # 4 / (4 + 0 + 1)
    assert grec_f1(False, 0, 2, 0) == 0.0
    assert grec_f1(False, 0, 0, 0) == 1.0  # guarded 0/0


def test_compute_grec_metrics():
    records = [
        (1, 0, 0, 0, 0),  # no target, nothing kept: correct, N TP
        (1, 1, 0, 0, 0),  # no target, a box kept: wrong, N FN
        (0, 2, 2, 2, 1),  # both found at 0.5, one at 0.7
        (0, 0, 1, 0, 0),  # target, nothing kept: wrong, T FP
    ]
    result = compute_grec_metrics(records, iou_thrs=(0.5, 0.7))
    assert result == {
        'F1score@0.5': 50.0,
        'F1score@0.7': 25.0,
        'N_acc': 50.0,
        'T_acc': 50.0,
    }
