"""GroundingLocalVisualizer: masks, boxes, merged mask, caption, banner."""

import itertools
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmgres.registry import VISUALIZERS
from mmgres.visualization import GroundingLocalVisualizer

H, W = 120, 160
GRAY = 128
_names = itertools.count()


def make_vis(**kwargs) -> GroundingLocalVisualizer:
    return GroundingLocalVisualizer(name=f'test_vis_{next(_names)}', **kwargs)


def blank() -> np.ndarray:
    return np.full((H, W, 3), GRAY, np.uint8)


def two_masks() -> np.ndarray:
    """Instance 0: rows 10-39, cols 10-49; instance 1: rows 70-109,
    cols 90-149."""
    m = np.zeros((2, H, W), np.uint8)
    m[0, 10:40, 10:50] = 1
    m[1, 70:110, 90:150] = 1
    return m


def gt_sample(text='the two cups', no_target=False) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(img_path='img.jpg', text=text, no_target=no_target)
    )
    if no_target:
        masks = np.zeros((0, H, W), np.uint8)
        boxes = torch.zeros((0, 4))
    else:
        masks = two_masks()
        boxes = torch.tensor(
            [[10.0, 10.0, 50.0, 40.0], [90.0, 70.0, 150.0, 110.0]]
        )
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(boxes),
        labels=torch.zeros(len(boxes), dtype=torch.long),
        masks=BitmapMasks(masks, H, W),
    )
    sample.gt_sem_seg = PixelData(
        data=torch.from_numpy(
            masks.max(0, keepdims=True)
            if len(masks)
            else np.zeros((1, H, W), np.uint8)
        )
    )
    return sample


def draw(vis, sample, **kwargs) -> np.ndarray:
    vis.add_datasample('sample', blank(), sample, **kwargs)
    return vis.get_image()


def panels(drawn: np.ndarray, num: int):
    """Split a drawing into its caption strip and its ``num`` panels."""
    assert drawn.shape[1] == num * W
    body = drawn[-H:]
    return drawn[:-H], [body[:, i * W : (i + 1) * W] for i in range(num)]


def changed(a: np.ndarray, b: np.ndarray = None) -> np.ndarray:
    """Per-pixel bool: differs from ``b`` (the undrawn image)."""
    b = blank() if b is None else b
    return np.abs(a.astype(int) - b.astype(int)).sum(-1) > 10


def test_build_from_registry():
    vis = VISUALIZERS.build(
        dict(type='GroundingLocalVisualizer', name='test_vis_registry')
    )
    assert isinstance(vis, GroundingLocalVisualizer)


def test_gt_masks_boxes_and_caption():
    vis = make_vis()
    drawn = draw(vis, gt_sample())
    caption, (gt,) = panels(drawn, 1)
    # a caption strip above the panel, with (white) text on it
    assert caption.shape[0] > 0
    assert (caption.min(-1) > 200).sum() > 10
    diff = changed(gt)
    # the inside of both instance masks is tinted
    assert diff[20:30, 20:40].all()
    assert diff[80:100, 100:140].all()
    # two different colours for the two instances
    assert not np.array_equal(gt[25, 30], gt[90, 120])
    # far from any mask or box the image is untouched
    assert not diff[50:65, 60:85].any()
    assert not diff[85:115, 5:60].any()


def test_no_caption_without_text():
    drawn = draw(make_vis(), gt_sample(text=''))
    assert drawn.shape == (H, W, 3)


def test_boxes_without_masks_are_drawn():
    sample = DetDataSample(metainfo=dict(img_path='img.jpg', text='x'))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 30.0, 100.0, 90.0]]),
        labels=torch.zeros(1, dtype=torch.long),
    )
    _, (gt,) = panels(draw(make_vis(), sample), 1)
    diff = changed(gt)
    assert diff[60, 19:22].any()  # left edge at x=20
    assert diff[29:32, 60].any()  # top edge at y=30
    assert not diff[50:70, 40:80].any()  # the box is not filled


def test_gt_and_pred_side_by_side_with_score_threshold():
    sample = gt_sample()
    pred_masks = np.zeros((2, H, W), bool)
    pred_masks[0, 10:40, 10:50] = True
    pred_masks[1, 60:100, 20:60] = True  # low score: must not be drawn
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(
            [[10.0, 10.0, 50.0, 40.0], [20.0, 60.0, 60.0, 100.0]]
        ),
        scores=torch.tensor([0.9, 0.2]),
        labels=torch.zeros(2, dtype=torch.long),
        masks=torch.from_numpy(pred_masks),
    )
    sample.pred_no_target = False
    _, (gt, pred) = panels(draw(make_vis(), sample), 2)
    pdiff = changed(pred)
    assert pdiff[20:30, 20:40].all()
    assert not pdiff[70:95, 25:55].any()  # below the 0.7 threshold
    # a lower threshold draws it
    _, (_, pred) = panels(draw(make_vis(), sample, pred_score_thr=0.1), 2)
    assert changed(pred)[70:95, 25:55].all()
    # the ground-truth panel is the same as when drawn alone
    _, (gt_alone,) = panels(draw(make_vis(), gt_sample()), 1)
    np.testing.assert_array_equal(gt, gt_alone)


def test_pred_bitmap_masks_are_filtered_too():
    sample = DetDataSample(metainfo=dict(img_path='img.jpg', text='x'))
    masks = two_masks()
    sample.pred_instances = InstanceData(
        bboxes=torch.zeros((2, 4)),  # dummy boxes: not drawn
        scores=torch.tensor([0.1, 0.95]),
        labels=torch.zeros(2, dtype=torch.long),
        masks=BitmapMasks(masks, H, W),
    )
    _, (pred,) = panels(draw(make_vis(), sample, draw_gt=False), 1)
    diff = changed(pred)
    assert not diff[15:35, 15:45].any()
    assert diff[80:100, 100:140].all()


def test_merged_mask_only_is_tinted():
    merged = np.zeros((1, H, W), bool)
    merged[0, 40:80, 40:120] = True
    sample = DetDataSample(metainfo=dict(img_path='img.jpg', text='x'))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(merged))
    vis = make_vis()
    _, (pred,) = panels(draw(vis, sample), 1)
    diff = changed(pred)
    assert diff[45:75, 45:115].all()
    assert not diff[:30].any()
    # tinted towards the merged colour (yellow: red and green up, blue down)
    r, g, b = pred[60, 80].astype(int)
    assert r > GRAY and g > GRAY and b < GRAY


def test_gt_no_target_banner():
    vis = make_vis()
    _, (gt,) = panels(draw(vis, gt_sample(no_target=True)), 1)
    band = gt[H // 2 - 5 : H // 2 + 5].reshape(-1, 3).astype(int)
    # the middle of the panel is a red strip ...
    red = (band[:, 0] > 150) & (band[:, 1] < 110) & (band[:, 2] < 110)
    assert red.mean() > 0.5
    # ... with (white) text on it
    assert (band.min(-1) > 180).any()
    # and the rows far above it are untouched
    assert not changed(gt)[:10].any()
    # a target sample has no banner
    _, (gt,) = panels(draw(make_vis(), gt_sample()), 1)
    mid = gt[H // 2 - 5 : H // 2 + 5].reshape(-1, 3).astype(int)
    assert not ((mid[:, 0] > 150) & (mid[:, 1] < 110)).any()


def test_pred_no_target_banner_on_pred_side_only():
    sample = gt_sample()
    sample.pred_no_target = torch.tensor(True)
    sample.pred_nt_score = 0.93
    _, (gt, pred) = panels(draw(make_vis(), sample), 2)
    row = pred[H // 2].astype(int)
    assert ((row[:, 0] > 150) & (row[:, 1] < 110)).mean() > 0.5
    gt_row = gt[H // 2].astype(int)
    assert (
        not (
            (gt_row[:, 0] > 150) & (gt_row[:, 1] < 110) & (gt_row[:, 2] < 110)
        ).mean()
        > 0.5
    )


def test_wrong_frame_names_the_sample():
    sample = gt_sample()
    small = np.full((H // 2, W // 2, 3), GRAY, np.uint8)
    with pytest.raises(ValueError, match='img.jpg'):
        make_vis().add_datasample('s', small, sample)


def test_out_file_and_visualization_hook(tmp_path):
    """mmdet's DetVisualizationHook (test.py --show-dir) drives it."""
    img_path = str(tmp_path / 'scene.jpg')
    mmcv.imwrite(blank(), img_path)
    sample = gt_sample()
    sample.set_metainfo(dict(img_path=img_path))
    sample.pred_sem_seg = PixelData(
        data=torch.from_numpy(two_masks().max(0, keepdims=True) > 0)
    )
    sample.pred_no_target = False

    make_vis()  # the hook takes the latest visualizer
    hook = DetVisualizationHook(draw=True, test_out_dir='vis')

    class Runner:
        work_dir = str(tmp_path)
        timestamp = 'ts'

    hook.after_test_iter(Runner(), 0, {}, [sample])
    out = osp.join(tmp_path, 'ts', 'vis', 'scene.jpg')
    assert osp.isfile(out)
    drawn = mmcv.imread(out, channel_order='rgb')
    assert drawn.shape[1] == 2 * W and drawn.shape[0] > H


def test_reference_points_are_drawn_on_the_prediction_panel():
    """IGVG's selected points (``pred_points``) as white dots; a kept
    instance's own point (``pred_instances.points``) larger, in its
    colour; nothing on the ground-truth panel."""
    sample = gt_sample()
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[10.0, 10.0, 50.0, 40.0]]),
        scores=torch.tensor([0.9]),
        labels=torch.zeros(1, dtype=torch.long),
        points=torch.tensor([[130.0, 20.0]]),
    )
    sample.pred_points = torch.tensor([[80.0, 60.0], [20.0, 100.0]])
    sample.pred_no_target = False
    _, (gt, pred) = panels(draw(make_vis(), sample), 2)
    # white dots at the selected points, the image elsewhere around them
    assert (pred[60, 80] > 230).all() and (pred[100, 20] > 230).all()
    assert (pred[60, 90] == GRAY).all()
    # the instance's point in its colour (tab10 blue for instance 0)
    r, g, b = pred[20, 130].astype(int)
    assert b > r + 60 and b > g + 30
    # the ground-truth panel has no dots
    _, (gt_alone,) = panels(draw(make_vis(), gt_sample()), 1)
    np.testing.assert_array_equal(gt, gt_alone)
    # without points the prediction panel is untouched there
    del sample.pred_points
    _, (_, pred) = panels(draw(make_vis(), sample), 2)
    assert (pred[60, 80] == GRAY).all()
