import pytest
import torch
from mmdet.models.task_modules import HungarianAssigner
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmgres.models.task_modules import PointL1Cost
from mmgres.registry import TASK_UTILS

IMG_META = dict(img_shape=(100, 100))

# two targets in a 100 x 100 image: A top-left, B bottom-right
GT = InstanceData(
    labels=torch.zeros(2, dtype=torch.long),
    bboxes=torch.tensor([[0.0, 0.0, 20.0, 20.0], [60.0, 60.0, 80.0, 80.0]]),
)

DETR_COSTS = [
    dict(type='ClassificationCost', weight=1.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0),
]
POINT_COST = dict(type='PointL1Cost', weight=2.0)


def test_point_cost_hand_computed():
    """Box centres (normalised): A (0.1, 0.1), B (0.7, 0.7)."""
    pred = InstanceData(points=torch.tensor([[0.7, 0.7], [0.1, 0.2]]))
    cost = PointL1Cost(weight=2.0)(pred, GT, img_meta=IMG_META)
    # |0.7-0.1|+|0.7-0.1| = 1.2, 0; |0.1-0.1|+|0.2-0.1| = 0.1,
    # |0.1-0.7|+|0.2-0.7| = 1.1; all times 2
    expected = torch.tensor([[1.2, 0.0], [0.1, 1.1]]) * 2
    torch.testing.assert_close(cost, expected)


def test_point_cost_normalises_with_img_shape_hw():
    """img_shape is (h, w): x is divided by w and y by h."""
    gt = InstanceData(
        labels=torch.zeros(1, dtype=torch.long),
        bboxes=torch.tensor([[0.0, 0.0, 100.0, 20.0]]),  # centre (50, 10)
    )
    pred = InstanceData(points=torch.tensor([[0.0, 0.0]]))
    cost = PointL1Cost()(pred, gt, img_meta=dict(img_shape=(20, 200)))
    # x: 50 / 200 = 0.25, y: 10 / 20 = 0.5
    torch.testing.assert_close(cost, torch.tensor([[0.75]]))


def test_point_cost_is_registered():
    with DefaultScope.overwrite_default_scope('mmgres'):
        cost = TASK_UTILS.build(dict(type='PointL1Cost', weight=3.0))
    assert isinstance(cost, PointL1Cost) and cost.weight == 3.0


def _assign(match_costs, pred, gt):
    with DefaultScope.overwrite_default_scope('mmgres'):
        assigner = HungarianAssigner(match_costs=match_costs)
        return assigner.assign(pred, gt, img_meta=IMG_META)


def _two_queries():
    """Two queries whose boxes sit between A and B; their reference points
    sit on the opposite targets.

    q0 box [30, 30, 50, 50], cxcywh (0.4, 0.4, 0.2, 0.2), point on B.
    q1 box [32, 32, 52, 52], cxcywh (0.42, 0.42, 0.2, 0.2), point on A.
    Same class logits, so the class cost is a constant.
    """
    return InstanceData(
        scores=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        bboxes=torch.tensor([[30.0, 30.0, 50.0, 50.0], [32.0, 32.0, 52, 52]]),
        points=torch.tensor([[0.7, 0.7], [0.1, 0.1]]),
    )


def test_point_cost_flips_the_hungarian_matching():
    """Hand-worked costs (A cxcywh (0.1, 0.1, 0.2, 0.2), B (0.7, 0.7, 0.2,
    0.2); all boxes are disjoint, so GIoU = -(enclosing - union) / enclosing
    with union 800):

    ===========  =========  ====================================  =========
    pair         L1 (x5)    GIoU cost (x2)                        point (x2)
    ===========  =========  ====================================  =========
    q0-A         0.60       (2500 - 800) / 2500 = 0.6800          1.2
    q0-B         0.60       (2500 - 800) / 2500 = 0.6800          0.0
    q1-A         0.64       (2704 - 800) / 2704 = 0.7041          0.0
    q1-B         0.56       (2304 - 800) / 2304 = 0.6528          1.2
    ===========  =========  ====================================  =========

    Without the point cost: {q0-A, q1-B} = 5(0.60 + 0.56) + 2(0.6800 +
    0.6528) = 8.466 < {q0-B, q1-A} = 5(0.60 + 0.64) + 2(0.6800 + 0.7041) =
    8.968, so q0 -> A, q1 -> B.
    With PointL1Cost (weight 2): 8.466 + 2(1.2 + 1.2) = 13.266 > 8.968 + 0,
    so the matching flips to q0 -> B, q1 -> A.
    """
    pred, gt = _two_queries(), GT
    plain = _assign(DETR_COSTS, pred, gt)
    assert plain.gt_inds.tolist() == [1, 2]  # 1-based: q0->A, q1->B
    guided = _assign(DETR_COSTS + [POINT_COST], pred, gt)
    assert guided.gt_inds.tolist() == [2, 1]  # q0->B, q1->A


def test_hand_worked_totals_match_mmdet_costs():
    """The table above, recomputed by mmdet's own cost classes."""
    pred = _two_queries()
    with DefaultScope.overwrite_default_scope('mmgres'):
        costs = [TASK_UTILS.build(c) for c in DETR_COSTS[1:] + [POINT_COST]]
    l1, giou, point = (c(pred, GT, img_meta=IMG_META) for c in costs)
    torch.testing.assert_close(
        l1, torch.tensor([[0.60, 0.60], [0.64, 0.56]]) * 5
    )
    torch.testing.assert_close(
        giou,
        torch.tensor([[1700 / 2500, 1700 / 2500], [1904 / 2704, 1504 / 2304]])
        * 2,
    )
    torch.testing.assert_close(point, torch.tensor([[2.4, 0.0], [0.0, 2.4]]))
    total = l1 + giou
    assert total[0, 0] + total[1, 1] == pytest.approx(8.466, abs=1e-3)
    assert total[0, 1] + total[1, 0] == pytest.approx(8.968, abs=1e-3)


def test_no_target_sample_has_no_match():
    gt = InstanceData(
        labels=torch.zeros(0, dtype=torch.long), bboxes=torch.zeros(0, 4)
    )
    res = _assign(DETR_COSTS + [POINT_COST], _two_queries(), gt)
    assert res.gt_inds.tolist() == [0, 0]
