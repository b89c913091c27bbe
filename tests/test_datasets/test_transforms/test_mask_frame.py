"""LoadReferringAnnotations(mask_frame='resized'): ReLA's ground truth.

The worked example: a 6x6 image resized to 4x4 (scale 2/3 on both axes),
one target whose polygon is the rectangle x in [0, 2], y in [0, 3].

- Original frame: pycocotools fills the pixels whose centres lie inside,
  columns {0, 1} x rows {0, 1, 2} (6 pixels).
- ReLA (polygon scaled, then rasterised at 4x4): x in [0, 4/3], y in
  [0, 2]. Column centres 0.5 (inside) and 1.5 (outside); row centres 0.5,
  1.5 (inside) and 2.5 (outside): pixels (0, 0) and (1, 0).
- The original mask nearest-resized with cv2 (output i takes input
  floor(1.5 i): rows/columns 0, 1, 3, 4): rows {0, 1} x columns {0, 1},
  four pixels; (0, 1) and (1, 1) are the boundary pixels that differ.
- The same mask as RLE, nearest-resized at pixel centres (PIL, as
  detectron2; output i takes input floor(1.5 i + 0.75): 0, 2, 3, 5): rows
  {0, 1} x column {0}, ReLA's two pixels again.
"""

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmengine.structures import PixelData

from mmgres.datasets.transforms import (
    LoadReferringAnnotations,
    PackReferringInputs,
)
from mmgres.datasets.transforms.mask_frame import (
    rasterize_in_frame,
    resize_mask_pixel_centre,
    scale_polygons,
)
from mmgres.evaluation import GRESMetric
from mmgres.evaluation.functional import resize_mask_nearest
from mmgres.registry import TRANSFORMS

RECT = [0, 0, 2, 0, 2, 3, 0, 3]
ORIGINAL = {(r, c) for r in range(3) for c in range(2)}
RELA = {(0, 0), (1, 0)}
NEAREST = {(0, 0), (0, 1), (1, 0), (1, 1)}


def cells(mask):
    return {tuple(int(v) for v in rc) for rc in np.argwhere(mask)}


def sample(segm, no_target=False):
    return dict(
        img=np.zeros((6, 6, 3), np.uint8),
        img_shape=(6, 6),
        ori_shape=(6, 6),
        height=6,
        width=6,
        img_id=1,
        no_target=no_target,
        instances=[]
        if no_target
        else [
            dict(
                bbox=[0, 0, 2, 3],
                bbox_label=0,
                ignore_flag=0,
                mask=segm,
                ann_id=7,
            )
        ],
    )


def resized(results):
    resize = TRANSFORMS.build(dict(type='Resize', scale=(4, 4)))
    return resize(results)


def test_polygon_rasterised_in_resized_frame():
    out = LoadReferringAnnotations(mask_frame='resized')(
        resized(sample([RECT]))
    )
    assert out['gt_seg_map'].shape == (4, 4)
    assert cells(out['gt_seg_map']) == RELA
    assert out['gt_masks'].masks.shape == (1, 4, 4)
    assert cells(out['gt_masks'].masks[0]) == RELA
    # boxes follow the same affine: [0, 0, 2, 3] * 2/3
    np.testing.assert_allclose(
        out['gt_bboxes'].tensor.numpy(), [[0, 0, 4 / 3, 2]], rtol=1e-6
    )
    # independently: pycocotools on the scaled polygon written out by hand
    scaled = [0, 0, 4 / 3, 0, 4 / 3, 2, 0, 2]
    rle = mask_utils.merge(mask_utils.frPyObjects([scaled], 4, 4))
    assert cells(mask_utils.decode(rle)) == RELA


def test_original_frame_then_nearest_differs_at_the_boundary():
    out = LoadReferringAnnotations()(resized(sample([RECT])))
    assert out['gt_seg_map'].shape == (6, 6)
    assert cells(out['gt_seg_map']) == ORIGINAL
    near = resize_mask_nearest(out['gt_seg_map'].astype(bool), (4, 4))
    assert cells(near) == NEAREST
    assert NEAREST - RELA == {(0, 1), (1, 1)}


def test_rle_resized_at_pixel_centres():
    m = np.zeros((6, 6), np.uint8)
    m[0:3, 0:2] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    out = LoadReferringAnnotations(mask_frame='resized')(resized(sample(rle)))
    assert cells(out['gt_seg_map']) == RELA
    assert cells(resize_mask_pixel_centre(m, (4, 4))) == RELA
    # uncompressed counts go the same way
    rle_list = dict(size=[6, 6], counts=[0, 3, 3, 3, 27])
    assert cells(rasterize_in_frame(rle_list, 6, 6, 4, 4)) == RELA


def test_scale_polygons_and_unchanged_frame():
    assert scale_polygons([[1, 2, 3, 4, 5, 6]], 2, 0.5)[0].tolist() == [
        2,
        1,
        6,
        2,
        10,
        3,
    ]
    # img_shape equal to the original size: the same mask as 'original'
    out = LoadReferringAnnotations(mask_frame='resized')(sample([RECT]))
    assert cells(out['gt_seg_map']) == ORIGINAL


def test_no_target_and_errors():
    out = LoadReferringAnnotations(mask_frame='resized')(
        resized(sample(None, no_target=True))
    )
    assert out['gt_seg_map'].shape == (4, 4)
    assert out['gt_masks'].masks.shape == (0, 4, 4)
    assert out['no_target'] is True
    with pytest.raises(ValueError, match='mask_frame'):
        LoadReferringAnnotations(mask_frame='network')
    before_resize = sample([RECT])
    del before_resize['img_shape']
    with pytest.raises(KeyError, match='after Resize'):
        LoadReferringAnnotations(mask_frame='resized')(before_resize)
    flipped = dict(resized(sample([RECT])), flip=True)
    with pytest.raises(ValueError, match='before any flip'):
        LoadReferringAnnotations(mask_frame='resized')(flipped)
    assert "mask_frame='resized'" in repr(
        LoadReferringAnnotations(mask_frame='resized')
    )


@pytest.mark.parametrize(
    'mask_frame, ciou', [('resized', 100.0), ('original', 50.0)]
)
def test_metric_in_resized_frame_both_ways(mask_frame, ciou):
    # The prediction is ReLA's ground truth at 4x4. Re-rasterised GT: I = U
    # = 2. GT nearest-resized by the metric: I = 2, U = 4.
    load = LoadReferringAnnotations(mask_frame=mask_frame)
    packed = PackReferringInputs()(load(resized(sample([RECT]))))
    data_sample = packed['data_samples']
    pred = np.zeros((4, 4), bool)
    pred[0, 0] = pred[1, 0] = True
    data_sample.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None])
    data_sample.pred_no_target = False
    metric = GRESMetric(resolution='resized')
    metric.process({}, [data_sample.to_dict()])
    assert metric.results == [(0, 0, 2, 2, 4 if ciou == 50 else 2)]
    assert metric.evaluate(1)['gres/cIoU'] == ciou
