"""RESMetric, RECMetric (incl. mask2bbox) and CoverAcc, worked by hand."""

import numpy as np
import pytest

from mmgres.evaluation import CoverAcc, RECMetric, RESMetric
from mmgres.registry import METRICS


@pytest.mark.parametrize('as_dict', [False, True])
def test_res(make_sample, cells, evaluate, as_dict):
    shape = (4, 4)
    top = [(0, c) for c in range(4)]
    two_rows = top + [(1, c) for c in range(4)]
    samples = [
        # I 3, U 4 -> 0.75
        make_sample(
            gt_mask=cells(shape, top), pred_mask=cells(shape, top[:3])
        ),
        # pred 2 px inside gt 8 px: I 2, U 8 -> 0.25
        make_sample(
            gt_mask=cells(shape, two_rows), pred_mask=cells(shape, top[:2])
        ),
        # perfect: I 4, U 4 -> 1.0
        make_sample(gt_mask=cells(shape, top), pred_mask=cells(shape, top)),
    ]
    # oIoU = 9 / 16 = 56.25; mIoU = (0.75 + 0.25 + 1) / 3 = 66.67
    # Pr@0.5..0.7: 2/3; Pr@0.8, Pr@0.9: 1/3
    result = evaluate(
        METRICS.build(dict(type='RESMetric')), samples, as_dict=as_dict
    )
    assert result['res/oIoU'] == pytest.approx(56.25)
    assert result['res/mIoU'] == pytest.approx(200 / 3)
    for thr, value in [
        ('0.5', 2),
        ('0.6', 2),
        ('0.7', 2),
        ('0.8', 1),
        ('0.9', 1),
    ]:
        assert result[f'res/Pr@{thr}'] == pytest.approx(100 * value / 3)


def test_res_resized(make_sample, cells, evaluate):
    # Downsampled 2x with nearest (rows/cols 0 and 2 kept): gt {(0,0),
    # (1,1)} -> {(0,0)}; pred {(0,0),(0,1)} -> {(0,0)}: IoU 1 (was 1/3).
    sample = make_sample(
        gt_mask=cells((4, 4), [(0, 0), (1, 1)]),
        pred_mask=cells((4, 4), [(0, 0), (0, 1)]),
        img_shape=(2, 2),
    )
    assert evaluate(RESMetric(), [sample])['res/mIoU'] == pytest.approx(
        100 / 3
    )
    assert (
        evaluate(RESMetric(resolution='resized'), [sample])['res/mIoU']
        == 100.0
    )


@pytest.mark.parametrize('as_dict', [False, True])
def test_rec_top1_box(make_sample, evaluate, as_dict):
    samples = [
        # top-1 is [0,0,10,4] (0.9): IoU 40/100 = 0.4 -> miss, although a
        # lower-scored box is exact.
        make_sample(
            gt_boxes=[[0, 0, 10, 10]],
            pred_boxes=[[0, 0, 10, 10], [0, 0, 10, 4]],
            pred_scores=[0.2, 0.9],
        ),
        # IoU 50/100 = 0.5 -> hit (>=)
        make_sample(
            gt_boxes=[[0, 0, 10, 10]],
            pred_boxes=[[0, 0, 10, 5]],
            pred_scores=[0.9],
        ),
        # no box -> miss
        make_sample(gt_boxes=[[0, 0, 10, 10]], pred_boxes=[], pred_scores=[]),
        make_sample(
            gt_boxes=[[0, 0, 10, 10]],
            pred_boxes=[[1, 1, 9, 9]],
            pred_scores=[0.3],
        ),  # IoU 0.64 -> hit
    ]
    result = evaluate(
        METRICS.build(dict(type='RECMetric')), samples, as_dict=as_dict
    )
    assert result == {'rec/Prec@0.5': 50.0}


def test_rec_mask2bbox(make_sample, cells, evaluate):
    shape = (10, 10)
    block = [(r, c) for r in range(2, 6) for c in range(1, 4)]
    square = [(r, c) for r in range(5) for c in range(5)]
    samples = [
        # rows 2-5, cols 1-3 -> box [1, 2, 4, 6] (pixel edges): IoU 1
        make_sample(gt_boxes=[[1, 2, 4, 6]], pred_mask=cells(shape, block)),
        # empty mask -> miss
        make_sample(gt_boxes=[[1, 2, 4, 6]], pred_mask=cells(shape, [])),
        # 5x5 square -> [0, 0, 5, 5] vs [0, 0, 10, 5]: IoU 25/50 = 0.5 hit
        make_sample(gt_boxes=[[0, 0, 10, 5]], pred_mask=cells(shape, square)),
        # a box prediction is ignored in mask2bbox mode: square -> [0,0,5,5]
        # vs [0, 0, 10, 10]: IoU 0.25 -> miss
        make_sample(
            gt_boxes=[[0, 0, 10, 10]],
            pred_mask=cells(shape, square),
            pred_boxes=[[0, 0, 10, 10]],
            pred_scores=[1.0],
        ),
    ]
    metric = RECMetric(mask2bbox=True, iou_thrs=(0.5, 0.75))
    result = evaluate(metric, samples)
    assert result == {'rec/Prec@0.5': 50.0, 'rec/Prec@0.75': 25.0}


def test_rec_errors(make_sample):
    with pytest.raises(KeyError, match='img_id=3'):
        RECMetric().process(
            {}, [make_sample(img_id=3, pred_boxes=[[0, 0, 1, 1]])]
        )
    no_scores = make_sample(
        img_id=4,
        gt_boxes=[[0, 0, 1, 1]],
        pred_boxes=[[0, 0, 1, 1], [0, 0, 2, 2]],
    )
    with pytest.raises(ValueError, match=r'img_id=4.*scores'):
        RECMetric().process({}, [no_scores])


@pytest.mark.parametrize('as_dict', [False, True])
def test_cover_acc(make_sample, evaluate, as_dict):
    samples = [
        # box 1 holds (5,5) and (10,10) (edge), box 2 none -> 1/2
        make_sample(
            gt_boxes=[[0, 0, 10, 10], [20, 20, 30, 30]],
            points=[[5, 5], [10, 10], [50, 50]],
        ),
        # the corner point (4,4) is inside (edges included) -> 1/1
        make_sample(gt_boxes=[[0, 0, 4, 4]], points=[[4, 4]]),
        # no target: skipped
        make_sample(no_target=True, points=[[1, 1]]),
    ]
    # (0.5 + 1) / 2 = 75
    result = evaluate(
        METRICS.build(dict(type='CoverAcc')), samples, as_dict=as_dict
    )
    assert result == {'cover/CoverAcc': 75.0}


def test_cover_acc_points_key(make_sample, evaluate):
    sample = make_sample(
        gt_boxes=[[0, 0, 4, 4], [5, 5, 6, 6]],
        pred_points=np.array([[5.5, 5.5]]),
    )
    assert evaluate(CoverAcc(points_key='pred_points'), [sample]) == {
        'cover/CoverAcc': 50.0
    }
    with pytest.raises(KeyError, match='pred_instances.points'):
        CoverAcc().process({}, [sample])
