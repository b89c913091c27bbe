import math

import torch
from mmdet.models.task_modules import HungarianAssigner
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmgres.models.task_modules import POACost, RelevanceCost


def test_relevance_cost_hand_computed():
    pred = InstanceData(scores=torch.tensor([[0.0], [2.0]]))
    gt = InstanceData(labels=torch.zeros(3, dtype=torch.long))
    cost = RelevanceCost(weight=2.0)(pred, gt)
    assert cost.shape == (2, 3)
    # BCE(r, 1) = softplus(-r): log 2 and log(1 + e^-2)
    expected = torch.tensor([math.log(2), math.log(1 + math.exp(-2))]) * 2
    torch.testing.assert_close(cost[:, 0], expected)
    torch.testing.assert_close(cost[:, 2], expected)


def test_relevance_cost_with_context_objects():
    pred = InstanceData(scores=torch.tensor([0.0, 2.0]))
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        relevant=torch.tensor([True, False]),
    )
    cost = RelevanceCost(weight=1.0)(pred, gt)
    # target: softplus(-r); other object: BCE(r, 0) = softplus(r)
    expected = torch.tensor(
        [
            [math.log(2), math.log(2)],
            [math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))],
        ]
    )
    torch.testing.assert_close(cost, expected)


def test_poa_cost_is_zero_for_context_objects():
    pred = InstanceData(
        query_feats=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        phrase_feats=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
    )
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        relevant=torch.tensor([False, True]),
    )
    cost = POACost(weight=2.0)(pred, gt)
    torch.testing.assert_close(cost, torch.tensor([[0.0, 0.0], [0.0, 2.0]]))


def test_poa_cost_hand_computed():
    pred = InstanceData(
        query_feats=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        phrase_feats=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
    )
    gt = InstanceData(labels=torch.zeros(2, dtype=torch.long))
    cost = POACost(weight=1.0)(pred, gt)
    torch.testing.assert_close(cost, torch.tensor([[0.0, 0.0], [1.0, 1.0]]))


def _assign(match_costs, pred, gt):
    with DefaultScope.overwrite_default_scope('mmgres'):
        assigner = HungarianAssigner(match_costs=match_costs)
        return assigner.assign(pred, gt, img_meta={})


def test_hungarian_with_our_costs():
    """3 queries, 2 targets. Query masks: q0 covers target B, q1 covers
    target A, q2 covers nothing. With mask dice + relevance the matching is
    q1->A, q0->B and q2 unmatched."""
    a = torch.tensor([1.0, 1.0, 0.0, 0.0])
    b = torch.tensor([0.0, 0.0, 1.0, 1.0])
    big = 10.0
    pred_masks = torch.stack(
        [(b * 2 - 1) * big, (a * 2 - 1) * big, -torch.ones(4) * big]
    )
    pred = InstanceData(
        scores=torch.tensor([1.0, 1.0, 1.0]),
        masks=pred_masks,
        query_feats=torch.eye(3, 2),
        phrase_feats=torch.eye(3, 2),
    )
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long), masks=torch.stack([a, b])
    )
    res = _assign(
        [
            dict(type='RelevanceCost', weight=2.0),
            dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
            dict(type='POACost', weight=1.0),
        ],
        pred,
        gt,
    )
    assert res.gt_inds.tolist() == [2, 1, 0]  # 1-based; 0 = unmatched


def test_relevance_decides_between_identical_masks():
    """Two queries with the same mask for one target: the more relevant one
    (higher r) is matched; POA breaks ties the same way."""
    m = torch.tensor([[5.0, -5.0], [5.0, -5.0]])
    gt = InstanceData(
        labels=torch.zeros(1, dtype=torch.long),
        masks=torch.tensor([[1.0, 0.0]]),
    )
    pred = InstanceData(
        scores=torch.tensor([-2.0, 2.0]),
        masks=m,
        query_feats=torch.ones(2, 2),
        phrase_feats=torch.ones(2, 2),
    )
    res = _assign(
        [
            dict(type='RelevanceCost', weight=2.0),
            dict(type='DiceCost', weight=5.0, pred_act=True),
        ],
        pred,
        gt,
    )
    assert res.gt_inds.tolist() == [0, 1]
    pred.scores = torch.zeros(2)
    pred.phrase_feats = torch.tensor([[1.0, -1.0], [1.0, 1.0]])  # q0 off
    res = _assign(
        [
            dict(type='RelevanceCost', weight=2.0),
            dict(type='POACost', weight=1.0),
        ],
        pred,
        gt,
    )
    assert res.gt_inds.tolist() == [0, 1]


def test_no_target_assigns_nothing():
    pred = InstanceData(
        scores=torch.zeros(3),
        masks=torch.zeros(3, 4),
        query_feats=torch.ones(3, 2),
        phrase_feats=torch.ones(3, 2),
    )
    gt = InstanceData(
        labels=torch.zeros(0, dtype=torch.long), masks=torch.zeros(0, 4)
    )
    res = _assign(
        [
            dict(type='RelevanceCost', weight=2.0),
            dict(type='POACost', weight=1.0),
        ],
        pred,
        gt,
    )
    assert res.gt_inds.tolist() == [0, 0, 0]
