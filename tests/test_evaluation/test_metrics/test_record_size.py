"""What each metric keeps per sample is a few numbers, never a mask.

``collect_results`` pickles ``metric.results`` of every rank and rank 0
holds them all, so a record must not grow with the image: every metric
here reduces a sample with 64x64 masks (4,096 pixels; even bit-packed a
mask would take 512 bytes) to a flat tuple of Python ints (REC: one
float), checked for both forms a metric receives.
"""

import pickle

import numpy as np
import pytest

from mmgres.evaluation import (
    CoverAcc,
    GRECMetric,
    GRESMetric,
    RECMetric,
    RefZOMMetric,
    RESMetric,
    RRefCOCOMetric,
)

SHAPE = (64, 64)


def block(rows, cols):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[rows, cols] = True
    return mask


# ground truth rows 10-29 x cols 10-39 (600 px); prediction rows 20-39 x
# cols 10-39 (600 px): I = 10 x 30 = 300
GT = block(slice(10, 30), slice(10, 40))
PRED = block(slice(20, 40), slice(10, 40))
TARGET = dict(
    gt_mask=GT,
    pred_mask=PRED,
    gt_boxes=[[10, 10, 40, 30]],
    pred_boxes=[[10, 20, 40, 40], [0, 0, 8, 8]],
    pred_scores=[0.9, 0.8],
    pred_inst_masks=np.stack([PRED, block(slice(0, 8), slice(0, 8))]),
    pred_points=[[20.0, 25.0], [4.0, 4.0]],
    pred_no_target=False,
    ref_id=7,
)
# no target: empty ground truth, 600 predicted pixels, said "no target"
NO_TARGET = dict(
    gt_mask=np.zeros(SHAPE, dtype=bool),
    pred_mask=PRED,
    gt_boxes=np.zeros((0, 4)),
    pred_boxes=[[10, 20, 40, 40]],
    pred_scores=[0.9],
    pred_inst_masks=PRED[None],
    pred_points=[[20.0, 25.0]],
    pred_no_target=True,
    no_target=True,
    ref_id=8,
)

# (metric, samples, the records: hand-computed where they are counts)
CASES = {
    # (gt_nt, pred_nt, I, |pred|, |gt|)
    'GRESMetric': (
        GRESMetric,
        [TARGET, NO_TARGET],
        [(0, 0, 300, 600, 600), (1, 1, 0, 600, 0)],
    ),
    # (gt_nt, #kept (score >= 0.7), #gt, TP@0.5): GIoU of the first box
    # with the ground truth is 300 / 900 = 1/3 < 0.5, so no TP
    'GRECMetric': (
        GRECMetric,
        [TARGET, NO_TARGET],
        [(0, 2, 1, 0), (1, 1, 0, 0)],
    ),
    # (covered, targets): (20, 25) is inside the ground-truth box
    'CoverAcc': (
        lambda: CoverAcc(points_key='pred_points'),
        [TARGET, NO_TARGET],
        [(1, 1), (0, 0)],
    ),
    # (I, |pred|, |gt|)
    'RESMetric': (RESMetric, [TARGET], [(300, 600, 600)]),
    # the top-1 box's IoU: 300 / 900
    'RECMetric': (RECMetric, [TARGET], [pytest.approx(1 / 3)]),
    'RECMetric-mask2bbox': (
        lambda: RECMetric(mask2bbox=True),
        [TARGET],
        [pytest.approx(1 / 3)],
    ),
    # (empty, pred_empty, I, |pred|, |gt|); "empty" is fewer than 50
    # predicted pixels here, so 600 is not
    'RefZOMMetric': (
        RefZOMMetric,
        [TARGET, NO_TARGET],
        [(0, 0, 300, 600, 600), (1, 0, 0, 600, 0)],
    ),
    # (ref_id, exist, pred_empty, I, |pred|, |gt|), "empty" as RefZOM's
    'RRefCOCOMetric': (
        RRefCOCOMetric,
        [TARGET, NO_TARGET],
        [(7, 1, 0, 300, 600, 600), (8, 0, 0, 0, 600, 0)],
    ),
}


def leaves(record):
    return list(record) if isinstance(record, tuple) else [record]


@pytest.mark.parametrize('as_dict', [False, True], ids=['sample', 'dict'])
@pytest.mark.parametrize('name', sorted(CASES))
def test_records_are_a_few_numbers(name, as_dict, make_sample):
    build, kwargs, expected = CASES[name]
    metric = build()
    samples = [make_sample(**k) for k in kwargs]
    if as_dict:
        samples = [s.to_dict() for s in samples]
    metric.process({}, samples)
    assert metric.results == expected
    for record in metric.results:
        # Python numbers only: no array, tensor or numpy scalar
        assert {type(v) for v in leaves(record)} <= {int, float}
    # what collect_results writes (its pickle protocol): per record at most
    # a tuple's framing (4 bytes) and 9 bytes per field (a float; an int
    # below 2**31 takes at most 5)
    width = max(len(leaves(r)) for r in metric.results)
    size = len(pickle.dumps(metric.results, protocol=2))
    assert size <= 16 + len(samples) * (4 + 9 * width)
    assert size < 512  # less than one bit-packed 64x64 mask
