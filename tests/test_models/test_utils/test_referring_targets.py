# Copyright (c) mmgres contributors. All rights reserved.
"""The one encoding of a referring sample's ground truth."""

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmgres.models.utils.referring_targets import (
    fit_to_shape,
    instance_masks,
    is_no_target,
    merged_target,
    merged_targets,
    referring_targets,
)


def _sample(no_target=False, with_masks=True, sem=None, context=False):
    s = DetDataSample(metainfo=dict(img_shape=(4, 5), no_target=no_target))
    m = np.zeros((2, 4, 5), dtype=np.uint8)
    m[0, 0:2, 0:2] = 1
    m[1, 3, 4] = 1
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        bboxes=torch.tensor([[0.0, 0.0, 2.0, 2.0], [4.0, 3.0, 5.0, 4.0]]),
    )
    if with_masks:
        gt.masks = BitmapMasks(m, 4, 5)
    s.gt_instances = gt if not no_target else gt[:0]
    if context:
        ctx = InstanceData(
            labels=torch.tensor([0, 1]),
            bboxes=gt.bboxes,
            masks=BitmapMasks(m, 4, 5),
            categories=torch.tensor([3, 1]),
        )
        s.gt_context_instances = ctx
    if sem is not None:
        s.gt_sem_seg = PixelData(data=torch.as_tensor(sem)[None])
    return s


def test_fit_to_shape_crops_pads_and_resizes():
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[:2, :2] = True
    assert fit_to_shape(m, (2, 6)).int().tolist() == [[1, 1, 0, 0, 0, 0]] * 2
    # crop to 2x2 (all True), then nearest up to 4x4
    assert bool(fit_to_shape(m[:2, :2], (4, 4), resize=True).all())


def test_targets_padded_to_the_batch_frame():
    t = referring_targets(_sample(), (6, 8))
    assert t.masks.shape == (2, 6, 8) and t.masks.dtype == torch.bool
    assert t.masks[0].sum() == 4 and t.masks[1, 3, 4]
    assert t.labels.tolist() == [0, 0]
    assert t.bboxes.tolist()[1] == [4.0, 3.0, 5.0, 4.0]


def test_no_target_has_no_targets_and_an_empty_merged_mask():
    s = _sample(no_target=True)
    assert len(referring_targets(s, (4, 5))) == 0
    assert not merged_target(s, (4, 5)).any()
    assert is_no_target(s)


def test_context_labels_referred_0_others_1():
    t = referring_targets(_sample(context=True), (4, 5), context=True)
    assert t.labels.tolist() == [0, 1]
    assert t.categories.tolist() == [3, 1]
    nt = _sample(no_target=True, context=True)
    assert referring_targets(nt, (4, 5), context=True).labels.tolist() == [
        1,
        1,
    ]
    with pytest.raises(KeyError, match='with_context=True'):
        referring_targets(_sample(), (4, 5), context=True)


def test_merged_mask_from_sem_seg_masks_or_boxes():
    sem = np.zeros((4, 5), dtype=np.uint8)
    sem[0, 0] = 1
    sem[1, 1] = 255  # ignore counts as background
    m = merged_target(_sample(sem=sem), (4, 5))
    assert m.sum() == 1 and m[0, 0]
    assert merged_target(_sample(), (4, 5)).sum() == 5
    boxes = merged_target(_sample(with_masks=False), (4, 5))
    assert boxes.sum() == 5  # 2x2 + 1x1 filled boxes
    assert merged_targets([_sample(), _sample(True)], (5, 6)).shape == (
        2,
        5,
        6,
    )


def test_box_only_instances_are_filled():
    gt = _sample(with_masks=False).gt_instances
    assert instance_masks(gt, (4, 5)).sum(dim=(1, 2)).tolist() == [4, 1]
