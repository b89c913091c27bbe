"""GroundingLocalVisualizer draws large images at a bounded size, with the
masks, boxes and points scaled to it."""

import itertools

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData, PixelData

from mmgres.visualization import GroundingLocalVisualizer

GRAY = 128
_names = itertools.count()


def make_vis(**kwargs) -> GroundingLocalVisualizer:
    return GroundingLocalVisualizer(name=f'test_size_{next(_names)}', **kwargs)


def changed(drawn: np.ndarray, h: int, w: int) -> np.ndarray:
    """Per pixel: differs from the grey image it was drawn on."""
    assert drawn.shape == (h, w, 3)
    return np.abs(drawn.astype(int) - GRAY).sum(-1) > 10


def _merged_sample(h, w, rows, cols) -> DetDataSample:
    merged = torch.zeros(1, h, w, dtype=torch.bool)
    merged[0, rows[0] : rows[1], cols[0] : cols[1]] = True
    sample = DetDataSample(metainfo=dict(img_path='big.jpg'))
    sample.pred_sem_seg = PixelData(data=merged)
    sample.pred_no_target = False
    return sample


def test_large_image_is_drawn_at_2048_with_the_mask_in_place():
    h, w = 2048, 4096
    image = np.full((h, w, 3), GRAY, np.uint8)
    sample = _merged_sample(h, w, (400, 800), (1000, 1800))
    vis = make_vis()
    vis.add_datasample('big', image, sample)
    drawn = vis.get_image()
    # half the size: the rectangle is at rows 200-399, columns 500-899
    diff = changed(drawn, 1024, 2048)
    assert diff[205:395, 505:895].all()
    assert not diff[:190].any() and not diff[410:].any()
    assert not diff[:, :490].any() and not diff[:, 910:].any()


def test_no_limit_and_per_call_limit():
    h, w = 100, 300
    image = np.full((h, w, 3), GRAY, np.uint8)
    sample = _merged_sample(h, w, (30, 60), (150, 240))
    # a small image is drawn as it is
    vis = make_vis()
    vis.add_datasample('small', image, sample)
    assert vis.get_image().shape == (h, w, 3)
    # a per-call limit; 0 (per call) or None (visualizer) lifts it
    vis.add_datasample('small', image, sample, max_draw_size=150)
    diff = changed(vis.get_image(), 50, 150)
    assert diff[17:28, 77:118].all()
    assert not diff[:12].any() and not diff[:, :70].any()
    small = make_vis(max_draw_size=150)
    small.add_datasample('small', image, sample)
    assert small.get_image().shape == (50, 150, 3)
    small.add_datasample('small', image, sample, max_draw_size=0)
    assert small.get_image().shape == (h, w, 3)
    unbounded = make_vis(max_draw_size=None)
    unbounded.add_datasample('small', image, sample, max_draw_size=None)
    assert unbounded.get_image().shape == (h, w, 3)


def test_instances_boxes_and_points_are_scaled():
    """Ground truth (bitmap and polygon masks, boxes) and prediction (mask
    tensor, box, point), drawn at a quarter of the size."""
    h, w = 400, 800
    image = np.full((h, w, 3), GRAY, np.uint8)
    sample = DetDataSample(metainfo=dict(img_path='big.jpg', text=''))
    gt_mask = np.zeros((1, h, w), np.uint8)
    gt_mask[0, 40:120, 80:240] = 1
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(gt_mask, h, w),
        bboxes=HorizontalBoxes(torch.tensor([[80.0, 40.0, 240.0, 120.0]])),
        labels=torch.zeros(1, dtype=torch.long),
    )
    pred_mask = torch.zeros(1, h, w, dtype=torch.bool)
    pred_mask[0, 200:360, 400:720] = True
    sample.pred_instances = InstanceData(
        masks=pred_mask,
        bboxes=torch.tensor([[400.0, 200.0, 720.0, 360.0]]),
        scores=torch.tensor([0.9]),
        labels=torch.zeros(1, dtype=torch.long),
        points=torch.tensor([[560.0, 280.0]]),
    )
    sample.pred_no_target = False
    vis = make_vis(max_draw_size=200)
    vis.add_datasample('big', image, sample)
    drawn = vis.get_image()
    # ground truth left, prediction right, each 100×200
    assert drawn.shape == (100, 400, 3)
    gt = changed(drawn[:, :200], 100, 200)
    pred = changed(drawn[:, 200:], 100, 200)
    assert gt[12:28, 22:58].all() and not gt[40:].any()
    assert pred[52:88, 102:178].all() and not pred[:45].any()
    assert not pred[:, :95].any()
    # the point's dot is at its scaled place (140, 70), inside the mask
    # tint, in the instance colour with a white rim
    assert (drawn[60:80, 330:350].min(-1) > 200).any()

    # polygons are scaled, not rasterised at full size
    poly = PolygonMasks(
        [[np.array([80, 40, 240, 40, 240, 120, 80, 120.0])]], h, w
    )
    sample.gt_instances.masks = poly
    vis.add_datasample('big', image, sample, draw_pred=False)
    gt = changed(vis.get_image(), 100, 200)
    assert gt[12:28, 22:58].all() and not gt[40:].any()


def test_shape_mismatch_and_bad_limits_are_errors():
    image = np.full((100, 300, 3), GRAY, np.uint8)
    sample = _merged_sample(50, 300, (10, 20), (10, 20))
    with pytest.raises(ValueError, match="merged mask of sample 'big.jpg'"):
        make_vis(max_draw_size=150).add_datasample('x', image, sample)
    with pytest.raises(ValueError, match='max_draw_size must be >= 0'):
        make_vis(max_draw_size=-1)
    with pytest.raises(TypeError, match='max_draw_size must be an int'):
        make_vis().add_datasample('x', image, sample, max_draw_size=1.5)
