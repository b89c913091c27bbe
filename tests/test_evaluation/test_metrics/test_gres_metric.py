"""GRESMetric: every row of ReLA's table, worked by hand.

All masks live on a 4x4 image; cells are ``(row, col)``.

====  ==========  ==========  ================================  =====
name  GT          prediction  I, U added                        IoU
====  ==========  ==========  ================================  =====
A     target      target      gt 3 px inside pred 4 px:         0.75
      (TN)                    I += 3, U += 4
B     target      no target   gt row 3 cols 2-3 + row 2 cols    0
      (FP)                    2-3 (4 px); pred row 3 (4 px);
                              overlap 2, union 6:
                              I += 0, U += 6 (mask kept)
C     no target   target      pred 3 px: I += 0, U += 3         0
      (FN)
D     no target   no target   pred 1 px is ignored: nothing     1
      (TP)
E     target      target      gt = pred = col 3 (4 px):         1
      (TN)                    I += 4, U += 4
====  ==========  ==========  ================================  =====

gIoU  = 100 * (0.75 + 0 + 0 + 1 + 1) / 5      = 55.0
cIoU  = 100 * (3 + 4) / (4 + 6 + 3 + 0 + 4)   = 700 / 17 = 41.176...
        (clearing B's mask would give 700/15; keeping B's overlap 900/17)
N_acc = 100 * TP / (TP + FN) = 100 * 1 / 2    = 50.0
T_acc = 100 * TN / (TN + FP) = 100 * 2 / 3    = 66.666...
Pr@0.7 over A, B, E (IoU 0.75, 0, 1)          = 2/3 -> 66.666...
Pr@0.8 = Pr@0.9                               = 1/3 -> 33.333...
"""

import math

import numpy as np
import pytest
import torch

from mmgres.evaluation import GRESMetric
from mmgres.registry import METRICS

SHAPE = (4, 4)


@pytest.fixture
def table_samples(make_sample, cells):
    row = lambda r: [(r, c) for c in range(4)]  # noqa: E731
    col = lambda c: [(r, c) for r in range(4)]  # noqa: E731
    a = make_sample(
        gt_mask=cells(SHAPE, [(0, 0), (0, 1), (1, 0)]),
        pred_mask=cells(SHAPE, [(0, 0), (0, 1), (1, 0), (1, 1)]),
        pred_no_target=False,
        img_id=1,
        sent_id=1,
    )
    b = make_sample(
        gt_mask=cells(SHAPE, [(2, 2), (2, 3), (3, 2), (3, 3)]),
        pred_mask=cells(SHAPE, row(3)),
        pred_no_target=True,
        img_id=2,
        sent_id=2,
    )
    c = make_sample(
        gt_mask=cells(SHAPE, []),
        no_target=True,
        pred_mask=cells(SHAPE, [(0, 0), (0, 1), (0, 2)]),
        pred_no_target=False,
        img_id=3,
        sent_id=3,
    )
    d = make_sample(
        gt_mask=cells(SHAPE, []),
        no_target=True,
        pred_mask=cells(SHAPE, [(1, 1)]),
        pred_no_target=True,
        img_id=4,
        sent_id=4,
    )
    e = make_sample(
        gt_mask=cells(SHAPE, col(3)),
        pred_mask=cells(SHAPE, col(3)),
        pred_no_target=False,
        img_id=5,
        sent_id=5,
    )
    return [a, b, c, d, e]


EXPECTED = {
    'gres/gIoU': 55.0,
    'gres/cIoU': 700 / 17,
    'gres/N_acc': 50.0,
    'gres/T_acc': 200 / 3,
    'gres/Pr@0.7': 200 / 3,
    'gres/Pr@0.8': 100 / 3,
    'gres/Pr@0.9': 100 / 3,
}


@pytest.mark.parametrize('as_dict', [False, True])
def test_table_rows(table_samples, evaluate, as_dict):
    metric = METRICS.build(dict(type='GRESMetric'))
    result = evaluate(metric, table_samples, as_dict=as_dict)
    assert result.keys() == EXPECTED.keys()
    for key, value in EXPECTED.items():
        assert result[key] == pytest.approx(value), key


def test_results_hold_only_integers(table_samples):
    metric = GRESMetric()
    metric.process({}, [s.to_dict() for s in table_samples])
    # (gt_nt, pred_nt, I, |pred|, |gt|) per sample, no masks.
    assert metric.results == [
        (0, 0, 3, 4, 3),
        (0, 1, 2, 4, 4),
        (1, 0, 0, 3, 0),
        (1, 1, 0, 1, 0),
        (0, 0, 4, 4, 4),
    ]


def test_undefined_ratios_are_nan(make_sample, cells, evaluate):
    # Only target samples: N-acc has no population.
    sample = make_sample(
        gt_mask=cells(SHAPE, [(0, 0)]),
        pred_mask=cells(SHAPE, [(0, 0)]),
        pred_no_target=False,
    )
    result = evaluate(GRESMetric(prefix='x'), [sample])
    assert math.isnan(result['x/N_acc'])
    assert result['x/T_acc'] == 100.0 and result['x/cIoU'] == 100.0


def test_nt_source_score(make_sample, cells, evaluate):
    # InstanceVG: no target unless a score is strictly above 0.7.
    gt = cells(SHAPE, [(0, 0)])
    kept = make_sample(gt_mask=gt, pred_mask=gt, pred_scores=[0.2, 0.71])
    dropped = make_sample(gt_mask=gt, pred_mask=gt, pred_scores=[0.7])
    metric = GRESMetric(nt_source='score')
    metric.process({}, [kept, dropped])
    # kept: TN with IoU 1; dropped: FP, I=0, U=1.
    assert [r[1] for r in metric.results] == [0, 1]
    result = metric.evaluate(2)
    assert result['gres/T_acc'] == 50.0
    assert result['gres/cIoU'] == 50.0  # (1 + 0) / (1 + 1)


def test_nt_source_empty_mask(make_sample, cells, evaluate):
    # LISA: fewer than 50 predicted pixels means no target.
    shape = (10, 10)
    all_cells = [(r, c) for r in range(10) for c in range(10)]
    nt_gt = cells(shape, [])
    few = make_sample(
        gt_mask=nt_gt,
        no_target=True,
        pred_mask=cells(shape, all_cells[:49]),
        pred_no_target=False,
    )  # ignored by this rule
    many = make_sample(
        gt_mask=nt_gt,
        no_target=True,
        pred_mask=cells(shape, all_cells[:50]),
        pred_no_target=True,
    )
    result = evaluate(GRESMetric(nt_source='empty_mask'), [few, many])
    # few -> TP (IoU 1), many -> FN (IoU 0, U += 50).
    assert result['gres/N_acc'] == 50.0
    assert result['gres/gIoU'] == 50.0
    assert result['gres/cIoU'] == 0.0
    custom = evaluate(
        GRESMetric(nt_source='empty_mask', min_pixels=51), [few, many]
    )
    assert custom['gres/N_acc'] == 100.0


def test_nt_source_classifier_reads_only_pred_no_target(make_sample, cells):
    # The no-target probability is no stand-in for the decision: every
    # grounder sets ``pred_no_target``, a prediction without it is an error.
    gt = cells(SHAPE, [])
    only_score = make_sample(
        gt_mask=gt, no_target=True, pred_mask=gt, pred_nt_score=0.9, img_id=3
    )
    with pytest.raises(ValueError, match=r'img_id=3.*`pred_no_target`'):
        GRESMetric().process({}, [only_score])


def test_resolution_resized(make_sample, cells, evaluate):
    # 4x4 masks evaluated at img_shape 2x2: nearest keeps rows/cols 0, 2.
    gt = cells(SHAPE, [(0, 0), (1, 1)])
    pred = cells(SHAPE, [(0, 0), (0, 1)])
    sample = make_sample(
        gt_mask=gt, pred_mask=pred, pred_no_target=False, img_shape=(2, 2)
    )
    # original frame: I = 1, U = 3
    original = evaluate(GRESMetric(), [sample])
    assert original['gres/cIoU'] == pytest.approx(100 / 3)
    # resized: gt -> {(0,0)}, pred -> {(0,0)}: I = U = 1
    metric = GRESMetric(resolution='resized')
    metric.process({}, [sample.to_dict()])
    assert metric.results == [(0, 0, 1, 1, 1)]
    assert metric.evaluate(1)['gres/cIoU'] == 100.0


def test_prediction_from_instance_masks(make_sample, cells, evaluate):
    # Without pred_sem_seg the union of pred_instances.masks is used.
    gt = cells(SHAPE, [(0, 0), (3, 3)])
    inst = np.stack([cells(SHAPE, [(0, 0)]), cells(SHAPE, [(3, 3), (3, 2)])])
    sample = make_sample(
        gt_mask=gt,
        pred_inst_masks=inst,
        pred_scores=[0.9, 0.9],
        pred_no_target=False,
    )
    metric = GRESMetric()
    metric.process({}, [sample])
    assert metric.results == [(0, 0, 2, 3, 2)]


def test_bad_input_names_the_sample(make_sample, cells):
    metric = GRESMetric()
    sample = make_sample(
        gt_mask=cells(SHAPE, [(0, 0)]),
        pred_mask=cells((2, 2), [(0, 0)]),
        pred_no_target=False,
        img_id=42,
    )
    with pytest.raises(ValueError, match='img_id=42'):
        metric.process({}, [sample])
    missing = make_sample(
        gt_mask=cells(SHAPE, [(0, 0)]),
        pred_mask=cells(SHAPE, [(0, 0)]),
        img_id=7,
    )
    with pytest.raises(ValueError, match=r'img_id=7.*pred_no_target'):
        metric.process({}, [missing])
    no_pred = make_sample(gt_mask=cells(SHAPE, [(0, 0)]), img_id=8)
    with pytest.raises(KeyError, match='img_id=8'):
        metric.process({}, [no_pred])
    with pytest.raises(ValueError, match='nt_source'):
        GRESMetric(nt_source='oracle')
    with pytest.raises(ValueError, match='resolution'):
        GRESMetric(resolution='half')


def test_accepts_numpy_anywhere(cells, evaluate):
    gt = cells(SHAPE, [(0, 0), (0, 1)])
    sample = dict(
        no_target=False,
        img_id=1,
        pred_no_target=np.bool_(False),
        gt_sem_seg=dict(data=gt[None].astype(np.uint8)),
        pred_sem_seg=dict(data=torch.from_numpy(gt)[None]),
    )
    metric = GRESMetric()
    metric.process({}, [sample])
    assert metric.results == [(0, 0, 2, 2, 2)]


def test_built_by_mmengine_evaluator(table_samples):
    # The runner's path: an mmengine Evaluator built in scope 'mmgres'
    # turns the samples into dicts and calls every metric.
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmgres'):
        evaluator = Evaluator(
            [
                dict(type='GRESMetric'),
                dict(
                    type='GRESMetric',
                    nt_source='empty_mask',
                    min_pixels=2,
                    prefix='lisa',
                ),
            ]
        )
    assert isinstance(evaluator.metrics[0], GRESMetric)
    evaluator.process(table_samples[:3])
    evaluator.process(table_samples[3:])
    result = evaluator.evaluate(len(table_samples))
    assert result['gres/cIoU'] == pytest.approx(700 / 17)
    # LISA's rule: only D (1 px) is predicted "no target"; B becomes a TN
    # with I 2, U 6; so cIoU = (3 + 2 + 4) / (4 + 6 + 3 + 0 + 4) = 9/17.
    assert result['lisa/cIoU'] == pytest.approx(900 / 17)
