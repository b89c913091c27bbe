"""Ref-ZOM, R-RefCOCO, RES, REC and CoverAcc arithmetic by hand."""

import math

import pytest

from mmgres.evaluation.functional import (
    compute_cover_acc,
    compute_rec_metrics,
    compute_refzom_metrics,
    compute_res_metrics,
    compute_rrefcoco_metrics,
    count_covered,
    top1_box_iou,
)


def test_refzom():
    records = [
        (0, 0, 3, 4, 3),  # non-empty: I 3, U 4
        (0, 0, 1, 3, 2),  # non-empty: I 1, U 4
        (0, 1, 2, 2, 3),  # non-empty predicted empty: I 0, U 3
        (1, 1, 0, 0, 0),  # empty, predicted empty
        (1, 0, 0, 7, 0),  # empty, predicted 7 px
    ]
    result = compute_refzom_metrics(records)
    # oIoU = (3 + 1 + 0) / (4 + 4 + 3) = 4/11; mIoU = (0.75 + 0.25 + 0) / 3
    assert result['oIoU'] == pytest.approx(400 / 11)
    assert result['mIoU'] == pytest.approx(100 / 3)
    assert result['Acc'] == 50.0
    assert math.isnan(compute_refzom_metrics([(0, 0, 1, 1, 1)])['Acc'])


def test_rrefcoco():
    records = [
        ('a', 1, 0, 2, 2, 4),  # positive: I 2, U 4
        ('a', 1, 0, 4, 4, 4),  # positive: I 4, U 4
        ('a', 0, 0, 0, 4, 0),  # negative predicted 4 px: FP
        ('a', 0, 1, 0, 0, 0),  # negative predicted empty: TN
        ('b', 1, 0, 3, 3, 4),  # positive: I 3, U 4; no negative
        ('c', 0, 0, 0, 2, 0),  # only a negative: mRR 0, no mIoU/rIoU
    ]
    result = compute_rrefcoco_metrics(records)
    # mIoU over a, b: (0.75 + 0.75) / 2; mRR over a, c: (1/2 + 0) / 2
    # rIoU over a, b: (6 / (8 + 4) + 3 / 4) / 2
    assert result['mIoU'] == pytest.approx(75.0)
    assert result['mRR'] == pytest.approx(25.0)
    assert result['rIoU'] == pytest.approx(62.5)
    assert math.isnan(compute_rrefcoco_metrics([('x', 1, 0, 1, 1, 1)])['mRR'])


def test_res():
    # (I, |pred|, |gt|): IoU 3/4, 2/8, 0/0 -> 0
    result = compute_res_metrics(
        [(3, 4, 3), (2, 2, 8), (0, 0, 0)], pr_thrs=(0.25, 0.75, 0.9)
    )
    assert result['oIoU'] == pytest.approx(500 / 12)  # (3 + 2) / (4 + 8)
    assert result['mIoU'] == pytest.approx(100 / 3)  # (0.75 + 0.25) / 3
    assert result['Pr@0.25'] == pytest.approx(200 / 3)
    assert result['Pr@0.75'] == pytest.approx(100 / 3)
    assert result['Pr@0.9'] == 0.0


def test_rec():
    # top-1 by score is [0,0,10,5]: IoU 50/100 with [0,0,10,10]
    assert top1_box_iou(
        [[0, 0, 1, 1], [0, 0, 10, 5]], [[0, 0, 10, 10]], [0.1, 0.2]
    ) == pytest.approx(0.5)
    assert top1_box_iou([[0, 0, 10, 5]], [[0, 0, 10, 10]]) == pytest.approx(
        0.5
    )
    assert top1_box_iou([], [[0, 0, 1, 1]]) == 0.0
    with pytest.raises(ValueError, match='scores'):
        top1_box_iou([[0, 0, 1, 1], [0, 0, 2, 2]], [[0, 0, 1, 1]])
    assert compute_rec_metrics([0.5, 0.49, 0.9, 0.0], iou_thrs=(0.5, 0.9)) == {
        'Prec@0.5': 50.0,
        'Prec@0.9': 25.0,
    }


def test_cover_acc():
    assert count_covered([[1, 1], [9, 9]], [[0, 0, 2, 2], [4, 4, 6, 6]]) == (
        1,
        2,
    )
    assert count_covered([], [[0, 0, 2, 2]]) == (0, 1)
    assert count_covered([[1, 1]], None) == (0, 0)
    result = compute_cover_acc([(1, 2), (0, 1), (3, 3), (0, 0)])
    assert result['CoverAcc'] == pytest.approx(50.0)  # (0.5 + 0 + 1) / 3
