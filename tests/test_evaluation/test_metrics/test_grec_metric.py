"""GRECMetric against hand-worked cases, and mmdet 3.3's first-box rule."""

import json
import math

import pytest
import torch

from mmgres.evaluation import GRECMetric
from mmgres.registry import METRICS


def test_no_target(make_sample, evaluate):
    # No box kept (0.69 < 0.7) -> F1 = 1, correct; a kept box -> F1 = 0.
    empty = make_sample(
        no_target=True, pred_boxes=[[0, 0, 5, 5]], pred_scores=[0.69]
    )
    none = make_sample(no_target=True, pred_boxes=[], pred_scores=[])
    kept = make_sample(
        no_target=True, pred_boxes=[[0, 0, 5, 5]], pred_scores=[0.7]
    )
    result = evaluate(
        METRICS.build(dict(type='GRECMetric')), [empty, none, kept]
    )
    assert result['grec/F1score@0.5'] == pytest.approx(200 / 3)
    assert result['grec/N_acc'] == pytest.approx(200 / 3)
    assert math.isnan(result['grec/T_acc'])


@pytest.mark.parametrize('as_dict', [False, True])
def test_multi_target_all_found_is_correct(make_sample, evaluate, as_dict):
    # Two targets, both found (scores 0.9, 0.8): TP 2, FP 0, FN 0, F1 = 1.
    sample = make_sample(
        gt_boxes=[[0, 0, 10, 10], [20, 20, 30, 30]],
        pred_boxes=[[20, 20, 30, 30], [0, 0, 10, 10]],
        pred_scores=[0.9, 0.8],
    )
    result = evaluate(GRECMetric(), [sample], as_dict=as_dict)
    assert result == {
        'grec/F1score@0.5': 100.0,
        'grec/N_acc': pytest.approx(math.nan, nan_ok=True),
        'grec/T_acc': 100.0,
    }


def test_multi_target_partial_and_score_threshold(make_sample):
    # 3 targets; boxes: exact(0.9), exact(0.7 kept), exact(0.6 dropped),
    # a stray box (0.95).  Kept = 3, TP = 2, FP = 1, FN = 1:
    # F1 = 4 / (4 + 1 + 1) = 2/3 -> not correct.
    gts = [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]
    sample = make_sample(
        gt_boxes=gts,
        pred_boxes=[gts[0], gts[1], gts[2], [0, 50, 10, 60]],
        pred_scores=[0.9, 0.7, 0.6, 0.95],
    )
    metric = GRECMetric(iou_thrs=(0.5, 0.7))
    metric.process({}, [sample])
    assert metric.results == [(0, 3, 3, 2, 2)]
    result = metric.evaluate(1)
    assert result['grec/F1score@0.5'] == 0.0
    assert result['grec/F1score@0.7'] == 0.0
    assert result['grec/T_acc'] == 100.0  # a box was kept


def test_matching_uses_generalized_iou(make_sample):
    # pred [0,0,10,4], gt [1,1,11,5]: I = 9*3 = 27, U = 40+40-27 = 53,
    # IoU = 0.5094 (>= 0.5), hull C = 11*5 = 55,
    # GIoU = 27/53 - (55-53)/55 = 0.4731 (< 0.5): no match on GIoU.
    sample = make_sample(
        gt_boxes=[[1, 1, 11, 5]], pred_boxes=[[0, 0, 10, 4]], pred_scores=[0.9]
    )
    metric = GRECMetric(iou_thrs=(0.5, 0.45))
    metric.process({}, [sample])
    assert metric.results == [(0, 1, 1, 0, 1)]
    result = metric.evaluate(1)
    assert result['grec/F1score@0.5'] == 0.0
    assert result['grec/F1score@0.45'] == 100.0


def test_greedy_one_to_one_matching(make_sample):
    # GIoU (pred x gt), boxes on a line (hull = union, so GIoU = IoU):
    # p0 = [0,0,10,10] equals g0 (1.0); p1 = [4,0,14,10] vs g0: I 60,
    # U 140 -> 0.43; p0 vs g1 = [5,0,15,10]: 50/150 = 0.33; p1 vs g1:
    # I 90, U 110 -> 0.82.  Greedy: p0-g0 (1.0), then p1-g1 (0.82): TP 2.
    two = make_sample(
        gt_boxes=[[0, 0, 10, 10], [5, 0, 15, 10]],
        pred_boxes=[[0, 0, 10, 10], [4, 0, 14, 10]],
        pred_scores=[0.9, 0.9],
    )
    # Two kept boxes on one target: the target is matched once, TP 1,
    # FP 1, F1 = 2 / (2 + 1) -> wrong.
    dup = make_sample(
        gt_boxes=[[0, 0, 10, 10]],
        pred_boxes=[[0, 0, 10, 10], [0, 0, 10, 9]],
        pred_scores=[0.9, 0.8],
    )
    metric = GRECMetric()
    metric.process({}, [two, dup])
    assert metric.results == [(0, 2, 2, 2), (0, 2, 1, 1)]
    assert metric.evaluate(2)['grec/F1score@0.5'] == 50.0


def test_bad_input_names_the_sample(make_sample):
    metric = GRECMetric()
    no_gt = make_sample(
        pred_boxes=[[0, 0, 1, 1]], pred_scores=[0.9], img_id=11
    )
    with pytest.raises(KeyError, match=r'img_id=11.*gt_instances.bboxes'):
        metric.process({}, [no_gt])
    no_scores = make_sample(
        gt_boxes=[[0, 0, 1, 1]], pred_boxes=[[0, 0, 1, 1]], img_id=12
    )
    with pytest.raises(KeyError, match=r'img_id=12.*scores'):
        metric.process({}, [no_scores])
    # InstanceData forbids this, a hand-made dict does not.
    mismatch = make_sample(
        gt_boxes=[[0, 0, 1, 1]],
        pred_boxes=[[0, 0, 1, 1]],
        pred_scores=[0.9],
        img_id=13,
    ).to_dict()
    mismatch['pred_instances']['scores'] = torch.tensor([0.9, 0.8])
    with pytest.raises(ValueError, match=r'img_id=13.*2 scores'):
        metric.process({}, [mismatch])


def test_mmdet_first_box_rule_scores_multi_target_below_one(
    tmp_path, make_sample, evaluate
):
    """mmdet 3.3's gRefCOCOMetric loads only ``ann_ids[0]``.

    Image 1 has two targets, both predicted exactly. mmdet compares the
    two kept boxes with the first target only: TP 1, FP 1, FN 0,
    F1 = 2/3 < 1, so the sentence counts as wrong. Image 2 is a no-target
    sentence with no kept box (right for both). mmdet: F1_score 1/2; ours:
    100%.
    """
    from mmdet.evaluation.metrics import gRefCOCOMetric

    boxes_xywh = [[0, 0, 10, 10], [20, 20, 10, 10]]
    coco = dict(
        images=[
            dict(id=1, file_name='1.jpg', height=40, width=40),
            dict(id=2, file_name='2.jpg', height=40, width=40),
        ],
        annotations=[
            dict(
                id=1,
                image_id=1,
                category_id=1,
                bbox=boxes_xywh[0],
                area=100,
                iscrowd=0,
            ),
            dict(
                id=2,
                image_id=1,
                category_id=1,
                bbox=boxes_xywh[1],
                area=100,
                iscrowd=0,
            ),
            dict(
                id=3,
                image_id=2,
                category_id=-1,
                bbox=[0, 0, 0, 0],
                area=0,
                iscrowd=0,
            ),
        ],
        categories=[dict(id=1, name='object')],
    )
    ann_file = tmp_path / 'grefcoco_odvg.json'
    ann_file.write_text(json.dumps(coco))
    pred_xyxy = [[0, 0, 10, 10], [20, 20, 30, 30]]

    mmdet_metric = gRefCOCOMetric(ann_file=str(ann_file))
    mmdet_metric.process(
        {},
        [
            dict(
                img_id=1,
                pred_instances=dict(
                    bboxes=torch.tensor(pred_xyxy, dtype=torch.float32),
                    scores=torch.tensor([0.9, 0.9]),
                ),
            ),
            dict(
                img_id=2,
                pred_instances=dict(
                    bboxes=torch.zeros((1, 4)), scores=torch.tensor([0.1])
                ),
            ),
        ],
    )
    mmdet_result = mmdet_metric.evaluate(2)
    assert mmdet_result['grefcoco/F1_score'] == 0.5

    ours = evaluate(
        GRECMetric(),
        [
            make_sample(
                img_id=1,
                gt_boxes=pred_xyxy,
                pred_boxes=pred_xyxy,
                pred_scores=[0.9, 0.9],
            ),
            make_sample(
                img_id=2,
                no_target=True,
                pred_boxes=[[0, 0, 0, 0]],
                pred_scores=[0.1],
            ),
        ],
    )
    assert ours['grec/F1score@0.5'] == 100.0
    assert ours['grec/N_acc'] == 100.0 and ours['grec/T_acc'] == 100.0
