"""GRESMetric(nt_rule=..., fn_union=...): ReLA against the GSVA release.

Four samples on 4x4 masks; cells are ``(row, col)``.

====  =========  ===============================  ========  ============
name  GT         prediction                       ReLA      gsva_release
====  =========  ===============================  ========  ============
A     row 0      target, row 0 cols 0-1:          IoU 0.5   IoU 0.5
      (4 px)     I = 2, U = 4                     I 2, U 4  I 2, U 4
B     row 1      [REJ]; its own mask (row 1,      IoU 0     IoU 0.75
      cols 0-2   4 px) kept in pred_sem_seg_raw:  I 0, U 4  I 3, U 4
      (3 px)     I = 3, U = 4
C     no target  target, row 3 cols 0-1 (2 px)    U 2       U 2 (0 with
                                                            fn_union off)
D     no target  no target                        IoU 1     IoU 1
====  =========  ===============================  ========  ============

ReLA:          gIoU = (0.5 + 0 + 0 + 1) / 4 = 37.5,  cIoU = 2 / 10 = 20
gsva_release:  gIoU = (0.5 + 0.75 + 0 + 1) / 4 = 56.25, cIoU = 5 / 10 = 50
  fn_union off:                                          cIoU = 5 / 8 = 62.5
N_acc = 1 / 2 = 50 and T_acc = 1 / 2 = 50 under every rule;
Pr@0.7 over A, B: ReLA 0 of 2; gsva_release 1 of 2 (B's 0.75).
"""

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from mmgres.evaluation import GRESMetric
from mmgres.evaluation.functional import compute_gres_metrics, gres_sample

SHAPE = (4, 4)


def _samples(make_sample, cells):
    row = lambda r, cols=range(4): [(r, c) for c in cols]  # noqa: E731
    a = make_sample(
        gt_mask=cells(SHAPE, row(0)),
        pred_mask=cells(SHAPE, row(0, [0, 1])),
        pred_no_target=False,
        img_id=1,
    )
    # A grounder that says "no target" empties pred_sem_seg and keeps its
    # own mask in pred_sem_seg_raw.
    b = make_sample(
        gt_mask=cells(SHAPE, row(1, [0, 1, 2])),
        pred_mask=np.zeros(SHAPE, bool),
        pred_no_target=True,
        img_id=2,
    )
    b.pred_sem_seg_raw = PixelData(
        data=torch.from_numpy(cells(SHAPE, row(1)))[None]
    )
    c = make_sample(
        gt_mask=np.zeros(SHAPE, bool),
        no_target=True,
        pred_mask=cells(SHAPE, row(3, [0, 1])),
        pred_no_target=False,
        img_id=3,
    )
    d = make_sample(
        gt_mask=np.zeros(SHAPE, bool),
        no_target=True,
        pred_mask=np.zeros(SHAPE, bool),
        pred_no_target=True,
        img_id=4,
    )
    return [a, b, c, d]


@pytest.mark.parametrize(
    'kwargs, giou, ciou, pr07',
    [
        (dict(), 37.5, 20.0, 0.0),
        (dict(nt_rule='rela'), 37.5, 20.0, 0.0),
        (dict(nt_rule='gsva_release'), 56.25, 50.0, 50.0),
        (dict(nt_rule='gsva_release', fn_union=False), 56.25, 62.5, 50.0),
    ],
)
@pytest.mark.parametrize('as_dict', [False, True])
def test_rules_by_hand(
    make_sample, cells, evaluate, kwargs, giou, ciou, pr07, as_dict
):
    samples = _samples(make_sample, cells)
    result = evaluate(GRESMetric(**kwargs), samples, as_dict=as_dict)
    assert result['gres/gIoU'] == pytest.approx(giou)
    assert result['gres/cIoU'] == pytest.approx(ciou)
    assert result['gres/N_acc'] == 50.0
    assert result['gres/T_acc'] == 50.0
    assert result['gres/Pr@0.7'] == pytest.approx(pr07)


def test_records_read_the_raw_mask(make_sample, cells):
    metric = GRESMetric(nt_rule='gsva_release')
    metric.process({}, _samples(make_sample, cells))
    # B's record is from pred_sem_seg_raw: I = 3, |pred| = 4, |gt| = 3
    assert metric.results == [
        (0, 0, 2, 2, 4),
        (0, 1, 3, 4, 3),
        (1, 0, 0, 2, 0),
        (1, 1, 0, 0, 0),
    ]


def test_functional_rows():
    # B's row and C's row under each rule, as (iou, add_I, add_U)
    assert gres_sample(False, True, 3, 4, 3) == (0.0, 0, 4)
    assert gres_sample(False, True, 3, 4, 3, 'gsva_release') == (0.75, 3, 4)
    assert gres_sample(True, False, 0, 2, 0) == (0.0, 0, 2)
    assert gres_sample(True, False, 0, 2, 0, fn_union=False) == (0.0, 0, 0)
    # the vectorised totals agree with the per-sample rows
    records = [(0, 1, 3, 4, 3), (1, 0, 0, 2, 0)]
    out = compute_gres_metrics(records, nt_rule='gsva_release')
    assert out['cIoU'] == pytest.approx(100 * 3 / 6)
    assert out['gIoU'] == pytest.approx(100 * 0.75 / 2)


def test_bad_rule_is_named():
    with pytest.raises(ValueError, match="nt_rule.*'gsva'"):
        GRESMetric(nt_rule='gsva')
    with pytest.raises(ValueError, match='nt_rule'):
        compute_gres_metrics([(0, 0, 1, 1, 1)], nt_rule='lisa')
