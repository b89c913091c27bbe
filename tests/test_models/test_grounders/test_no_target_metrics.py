"""The no-target contract changes no metric: every metric gives the same
numbers on hand-made predictions before and after
:func:`apply_no_target_contract` clears the "no target" samples' masks and
instances (the metrics read ``pred_sem_seg_raw`` / ``pred_instances_raw``,
as the official rules score the model's own mask and boxes)."""

import copy
import math

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmgres.evaluation.metrics import (
    CoverAcc,
    GRECMetric,
    GRESMetric,
    RECMetric,
    RefZOMMetric,
    RESMetric,
    RRefCOCOMetric,
)
from mmgres.models.grounders.base_grounder import apply_no_target_contract

H, W = 12, 16


def _rect(y0, y1, x0, x1):
    m = torch.zeros(H, W, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def _sample(i, gt_nt, pred_nt, nt_score, gt_mask, pred_mask, inst):
    """``inst``: list of (mask, score); each instance's box is its mask's
    box and its point the box centre."""
    s = DetDataSample(
        metainfo=dict(
            img_id=i,
            ref_id=i // 2,
            sent_id=i,
            img_path=f'img{i}.jpg',
            text='the thing',
            no_target=gt_nt,
            ori_shape=(H, W),
            img_shape=(6, 8),
        )
    )
    gt = gt_mask if not gt_nt else torch.zeros(H, W, dtype=torch.bool)
    s.gt_sem_seg = PixelData(data=gt[None])
    if gt_nt:
        s.gt_instances = InstanceData(
            bboxes=torch.zeros((0, 4)), labels=torch.zeros(0).long()
        )
    else:
        ys, xs = torch.nonzero(gt, as_tuple=True)
        box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([box], dtype=torch.float32),
            labels=torch.zeros(1).long(),
        )
    masks = torch.stack([m for m, _ in inst]) if inst else None
    boxes = []
    for m, _ in inst:
        ys, xs = torch.nonzero(m, as_tuple=True)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    s.pred_instances = InstanceData(
        masks=masks
        if masks is not None
        else torch.zeros((0, H, W), dtype=torch.bool),
        bboxes=boxes,
        scores=torch.tensor([sc for _, sc in inst]).reshape(-1),
        labels=torch.zeros(len(inst)).long(),
        points=(boxes[:, :2] + boxes[:, 2:]) / 2,
    )
    s.pred_sem_seg = PixelData(data=pred_mask[None])
    s.pred_no_target = pred_nt
    s.pred_nt_score = nt_score
    return s


def _predictions():
    """Every (ground truth, prediction) case, with "no target"
    predictions whose mask and instances are not empty."""
    empty = torch.zeros(H, W, dtype=torch.bool)
    a, b = _rect(0, 6, 0, 8), _rect(4, 10, 6, 14)
    return [
        # target, predicted target
        _sample(0, False, False, 0.1, a, a | b, [(a, 0.9), (b, 0.4)]),
        # target, predicted "no target" over an overlapping mask
        _sample(1, False, True, 0.8, a, _rect(1, 7, 0, 8), [(a, 0.85)]),
        # no target, predicted "no target" with a mask of 60 pixels
        _sample(2, True, True, 0.9, empty, _rect(0, 6, 0, 10), [(b, 0.95)]),
        # no target, predicted target
        _sample(3, True, False, 0.2, empty, b, [(b, 0.8)]),
        # target, "no target" with nothing (RaAM, GSVA)
        _sample(4, False, True, 0.7, b, empty, []),
        # no target, "no target" with a 10-pixel mask and a weak instance
        _sample(5, True, True, 0.6, empty, _rect(0, 2, 0, 5), [(a, 0.3)]),
        # target, "no target" with a disjoint mask
        _sample(6, False, True, 0.55, b, _rect(0, 2, 0, 2), [(a, 0.75)]),
    ]


METRICS = [
    ('gres', lambda: GRESMetric()),
    ('gres-resized', lambda: GRESMetric(resolution='resized')),
    ('gres-score', lambda: GRESMetric(nt_source='score')),
    ('gres-empty', lambda: GRESMetric(nt_source='empty_mask')),
    ('grec', lambda: GRECMetric(iou_thrs=(0.5, 0.7))),
    ('refzom', lambda: RefZOMMetric()),
    ('refzom-classifier', lambda: RefZOMMetric(nt_source='classifier')),
    ('rrefcoco', lambda: RRefCOCOMetric()),
    ('res', lambda: RESMetric()),
    ('cover', lambda: CoverAcc()),
    ('cover-pred-points', lambda: CoverAcc(points_key='pred_points')),
]


def _score(make, samples):
    metric = make()
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def _same(before, after):
    assert before.keys() == after.keys()
    for k in before:
        if math.isnan(before[k]):
            assert math.isnan(after[k]), k
        else:
            assert after[k] == before[k], k


@pytest.mark.parametrize('as_dict', [False, True])
@pytest.mark.parametrize('name,make', METRICS, ids=[m[0] for m in METRICS])
def test_every_metric_is_unchanged_by_the_contract(name, make, as_dict):
    raw = _predictions()
    for s in raw:
        s.pred_points = s.pred_instances.points.clone()
    cleared = [apply_no_target_contract(copy.deepcopy(s)) for s in raw]
    # the contract did clear something the metrics would otherwise read
    assert any(
        s.pred_no_target and s.pred_sem_seg_raw.data.any() for s in cleared
    )
    assert not any(
        s.pred_no_target and s.pred_sem_seg.data.any() for s in cleared
    )
    if as_dict:
        raw = [s.to_dict() for s in raw]
        cleared = [s.to_dict() for s in cleared]
    _same(_score(make, raw), _score(make, cleared))


@pytest.mark.parametrize('mask2bbox', [False, True])
def test_rec_metric_is_unchanged_by_the_contract(mask2bbox):
    """RECMetric scores target samples only (it needs a ground-truth box)."""
    raw = [s for s in _predictions() if not s.no_target]
    cleared = [apply_no_target_contract(copy.deepcopy(s)) for s in raw]
    make = lambda: RECMetric(mask2bbox=mask2bbox)  # noqa: E731
    _same(_score(make, raw), _score(make, cleared))
