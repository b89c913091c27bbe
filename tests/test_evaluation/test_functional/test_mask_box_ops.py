"""Mask, box and no-target helpers."""

import math

import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from mmgres.evaluation.functional import (
    box_overlaps,
    decide_no_target,
    mask_counts,
    mask_to_box,
    merge_masks,
    percent,
    points_in_boxes,
    resize_mask_nearest,
    to_bool_mask,
    to_box_tensor,
)


def test_mask_counts_and_conversions():
    a = np.array([[1, 1, 0], [0, 1, 0]], bool)
    b = torch.tensor([[[0, 1, 1], [0, 1, 1]]], dtype=torch.uint8)
    # I = {(0,1), (1,1)} = 2, |a| = 3, |b| = 4
    assert mask_counts(a, to_bool_mask(b)) == (2, 3, 4)
    assert to_bool_mask(b).dtype == np.bool_
    assert to_bool_mask(a) is a  # no copy for a 2-D bool array
    with pytest.raises(ValueError, match='shape'):
        mask_counts(a, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        to_bool_mask(np.zeros((2, 2, 2)))


def test_merge_masks():
    masks = np.zeros((2, 2, 3), np.uint8)
    masks[0, 0, 0] = 1
    masks[1, 1, 2] = 1
    merged = merge_masks(BitmapMasks(masks, 2, 3))
    assert merged.tolist() == [[True, False, False], [False, False, True]]
    assert merge_masks(torch.zeros((0, 2, 3))).shape == (2, 3)


def test_resize_mask_nearest():
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = mask[2, 2] = True
    # nearest 2x down-sampling keeps rows/cols 0 and 2
    assert resize_mask_nearest(mask, (2, 2)).tolist() == [
        [False, False],
        [False, True],
    ]
    up = resize_mask_nearest(np.array([[True, False]]), (2, 4))
    assert up.tolist() == [[True, True, False, False]] * 2


def test_boxes():
    boxes = HorizontalBoxes(torch.tensor([[0.0, 0.0, 10.0, 10.0]]))
    assert to_box_tensor(boxes).shape == (1, 4)
    assert to_box_tensor([]).shape == (0, 4)
    assert to_box_tensor([1, 2, 3, 4]).tolist() == [[1, 2, 3, 4]]
    # [0,0,10,10] vs [5,0,15,10]: IoU 50/150; hull = union -> GIoU equal.
    # vs [20,0,30,10]: IoU 0, hull 300, union 200 -> GIoU -1/3.
    others = [[5, 0, 15, 10], [20, 0, 30, 10]]
    iou = box_overlaps(boxes, others)
    giou = box_overlaps(boxes, others, mode='giou')
    assert iou[0].tolist() == pytest.approx([1 / 3, 0.0], abs=1e-5)
    assert giou[0].tolist() == pytest.approx([1 / 3, -1 / 3], abs=1e-5)


def test_mask_to_box_and_points():
    mask = np.zeros((6, 6), bool)
    mask[1:3, 2:5] = True  # rows 1-2, cols 2-4
    assert mask_to_box(mask).tolist() == [2, 1, 5, 3]
    assert mask_to_box(np.zeros((1, 3, 3), bool)) is None
    inside = points_in_boxes([[2, 1], [5, 3], [5.1, 3]], [[2, 1, 5, 3]])
    assert inside[:, 0].tolist() == [True, True, False]


@pytest.mark.parametrize(
    'kwargs, expected',
    [
        (dict(nt_source='classifier', pred_no_target=True), True),
        (
            dict(nt_source='classifier', pred_no_target=torch.tensor(False)),
            False,
        ),
        (dict(nt_source='score', scores=[0.7, 0.1]), True),
        (dict(nt_source='score', scores=torch.tensor([0.71])), False),
        (dict(nt_source='score', scores=[]), True),
        (dict(nt_source='empty_mask', pred_pixels=49), True),
        (dict(nt_source='empty_mask', pred_pixels=50), False),
        (dict(nt_source='empty_mask', pred_pixels=0, min_pixels=1), True),
        (dict(nt_source='empty_mask', pred_pixels=1, min_pixels=1), False),
    ],
)
def test_decide_no_target(kwargs, expected):
    assert decide_no_target(**kwargs) is expected


def test_decide_no_target_errors():
    with pytest.raises(ValueError, match='pred_no_target'):
        decide_no_target('classifier')
    with pytest.raises(ValueError, match='scores'):
        decide_no_target('score', pred_pixels=3)
    with pytest.raises(ValueError, match='nt_source'):
        decide_no_target('vote')


def test_percent():
    assert percent(1, 8) == 12.5
    assert math.isnan(percent(0, 0))
