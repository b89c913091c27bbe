"""RefZOMMetric and RRefCOCOMetric on hand-worked 4x4 cases."""

import pytest

from mmgres.evaluation import RefZOMMetric, RRefCOCOMetric
from mmgres.registry import METRICS

SHAPE = (4, 4)


def row(r, cols=range(4)):
    return [(r, c) for c in cols]


@pytest.mark.parametrize('as_dict', [False, True])
def test_refzom(make_sample, cells, evaluate, as_dict):
    # non-empty 1: gt row 0 (4 px), pred row 0 cols 0-2: I 3, U 4 -> 0.75
    # non-empty 2: gt rows 0-1 (8 px), pred row 1 cols 0-1 + row 2 cols
    #              0-1: I 2, U 8 + 4 - 2 = 10 -> 0.2
    # empty 1 ('zero' source only, no `no_target`): nothing predicted -> ok
    # empty 2: 1 predicted pixel -> wrong (DMMI: any pixel is a target)
    # oIoU = (3 + 2) / (4 + 10) = 35.714..., mIoU = (0.75 + 0.2) / 2 = 47.5
    # Acc = 1 / 2 = 50
    samples = [
        make_sample(
            gt_mask=cells(SHAPE, row(0)),
            pred_mask=cells(SHAPE, row(0, range(3))),
        ),
        make_sample(
            gt_mask=cells(SHAPE, row(0) + row(1)),
            pred_mask=cells(SHAPE, row(1, range(2)) + row(2, range(2))),
        ),
        make_sample(
            gt_mask=cells(SHAPE, []), pred_mask=cells(SHAPE, []), source='zero'
        ),
        make_sample(
            gt_mask=cells(SHAPE, []),
            no_target=True,
            pred_mask=cells(SHAPE, [(3, 3)]),
            source='zero',
        ),
    ]
    del samples[2].no_target  # only `source` says it is empty
    result = evaluate(
        METRICS.build(dict(type='RefZOMMetric')), samples, as_dict=as_dict
    )
    assert result['refzom/oIoU'] == pytest.approx(500 / 14)
    assert result['refzom/mIoU'] == pytest.approx(47.5)
    assert result['refzom/Acc'] == 50.0


def test_refzom_classifier_option(make_sample, cells, evaluate):
    # With the classifier the 1-pixel empty sample is right, and a
    # non-empty sample predicted empty keeps its union with I = 0.
    samples = [
        make_sample(
            gt_mask=cells(SHAPE, []),
            no_target=True,
            pred_mask=cells(SHAPE, [(3, 3)]),
            pred_no_target=True,
        ),
        make_sample(
            gt_mask=cells(SHAPE, row(0)),
            pred_mask=cells(SHAPE, row(0, range(2))),
            pred_no_target=True,
        ),
    ]
    result = evaluate(RefZOMMetric(nt_source='classifier'), samples)
    assert result['refzom/Acc'] == 100.0
    assert result['refzom/oIoU'] == 0.0  # I 0, U 4


def test_refzom_missing_flag(make_sample, cells):
    sample = make_sample(
        gt_mask=cells(SHAPE, []), pred_mask=cells(SHAPE, []), img_id=5
    )
    del sample.no_target
    with pytest.raises(KeyError, match=r'img_id=5.*source'):
        RefZOMMetric().process({}, [sample])


def _rrefcoco_samples(make_sample, cells, with_scores=False):
    # ref 1: positives P1 (gt row 0, pred row 0 cols 0-1: I 2, U 4, 0.5)
    #        and P2 (gt = pred = row 1: I 4, U 4, 1.0);
    #        negatives N1 (4 px predicted: FP) and N2 (nothing: TN).
    # ref 2: one positive (gt row 0, pred row 0 cols 0-2: I 3, U 4, 0.75),
    #        no negative -> skipped by mRR.
    # mIoU = ((0.5 + 1) / 2 + 0.75) / 2           = 75
    # mRR  = ref 1 only: TN / (TN + FP) = 1 / 2    = 50
    # rIoU = (6 / (8 + 4) + 3 / 4) / 2 = (0.5 + 0.75) / 2 = 62.5
    #        (without N1's pixels ref 1 would give 6 / 8 -> 75)
    empty = cells(SHAPE, [])
    pos = dict(pred_scores=[0.9]) if with_scores else {}
    neg = dict(pred_scores=[0.5]) if with_scores else {}
    return [
        make_sample(
            ref_id=1,
            exist=True,
            **pos,
            gt_mask=cells(SHAPE, row(0)),
            pred_mask=cells(SHAPE, row(0, range(2))),
        ),
        make_sample(
            ref_id=1,
            exist=True,
            **pos,
            gt_mask=cells(SHAPE, row(1)),
            pred_mask=cells(SHAPE, row(1)),
        ),
        make_sample(
            ref_id=1,
            exist=False,
            **neg,
            no_target=True,
            gt_mask=empty,
            pred_mask=cells(SHAPE, row(2)),
        ),
        make_sample(
            ref_id=1,
            exist=False,
            **neg,
            no_target=True,
            gt_mask=empty,
            pred_mask=empty,
        ),
        make_sample(
            ref_id=2,
            exist=True,
            **pos,
            gt_mask=cells(SHAPE, row(0)),
            pred_mask=cells(SHAPE, row(0, range(3))),
        ),
    ]


@pytest.mark.parametrize('as_dict', [False, True])
def test_rrefcoco(make_sample, cells, evaluate, as_dict):
    samples = _rrefcoco_samples(make_sample, cells)
    result = evaluate(
        METRICS.build(dict(type='RRefCOCOMetric')), samples, as_dict=as_dict
    )
    assert result['rrefcoco/mIoU'] == pytest.approx(75.0)
    assert result['rrefcoco/mRR'] == pytest.approx(50.0)
    assert result['rrefcoco/rIoU'] == pytest.approx(62.5)


def test_rrefcoco_exist_falls_back_to_no_target(make_sample, cells, evaluate):
    samples = _rrefcoco_samples(make_sample, cells)
    for s in samples:
        del s.exist
    result = evaluate(RRefCOCOMetric(), samples)
    assert result['rrefcoco/rIoU'] == pytest.approx(62.5)


def test_rrefcoco_score_option(make_sample, cells, evaluate):
    # With nt_source='score' and no confident instance on the negatives,
    # N1 (4 px) is a TN and adds nothing to rIoU: ref 1 gives 6 / 8.
    samples = _rrefcoco_samples(make_sample, cells, with_scores=True)
    result = evaluate(RRefCOCOMetric(nt_source='score'), samples)
    assert result['rrefcoco/mRR'] == 100.0
    assert result['rrefcoco/rIoU'] == pytest.approx(75.0)
