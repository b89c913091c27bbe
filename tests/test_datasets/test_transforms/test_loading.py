"""LoadReferringAnnotations and the clear-error LoadImageFromFile."""

import os.path as osp

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmcv.transforms import LoadImageFromFile as MMCVLoad
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from refer_fixtures import dataset_cfg

from mmgres.datasets.transforms import (
    LoadImageFromFile,
    LoadReferringAnnotations,
)
from mmgres.registry import DATASETS, TRANSFORMS


@pytest.fixture(scope='module')
def samples(refer_root):
    ds = DATASETS.build(dataset_cfg(refer_root, 'grefcoco'))
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_multi_target_rle_masks(samples):
    # ref 101: ann 12 (compressed RLE) + ann 13 (uncompressed RLE)
    out = LoadReferringAnnotations()(samples[2])
    masks = out['gt_masks']
    assert isinstance(masks, BitmapMasks)
    assert masks.masks.shape == (2, 32, 48)
    expected12 = np.zeros((32, 48), np.uint8)
    expected12[20:28, 30:40] = 1  # 8 x 10 = 80 px
    expected13 = np.zeros((32, 48), np.uint8)
    expected13[0:5, 40:48] = 1  # 5 x 8 = 40 px
    np.testing.assert_array_equal(masks.masks[0], expected12)
    np.testing.assert_array_equal(masks.masks[1], expected13)
    assert out['gt_seg_map'].dtype == np.uint8
    assert out['gt_seg_map'].shape == (32, 48)
    assert out['gt_seg_map'].sum() == 120
    assert isinstance(out['gt_bboxes'], HorizontalBoxes)
    torch.testing.assert_close(
        out['gt_bboxes'].tensor,
        torch.tensor([[30.0, 20.0, 40.0, 28.0], [40.0, 0.0, 48.0, 5.0]]),
    )
    assert out['gt_bboxes_labels'].tolist() == [0, 0]
    assert out['gt_bboxes_labels'].dtype == np.int64
    assert out['gt_ignore_flags'].tolist() == [False, False]
    assert out['no_target'] is False


def test_polygon_mask(samples):
    # ref 100: the square polygon x 2..12, y 4..14 (the 2-point polygon
    # was dropped by the dataset)
    out = LoadReferringAnnotations()(samples[0])
    (mask,) = out['gt_masks'].masks
    assert 100 <= mask.sum() <= 121  # 10x10 square, border convention
    assert mask[9, 7] == 1 and mask[0, 0] == 0
    assert mask[:4].sum() == 0 and mask[15:].sum() == 0
    assert mask[:, :2].sum() == 0 and mask[:, 13:].sum() == 0


def test_no_target(samples):
    out = LoadReferringAnnotations()(samples[3])
    assert out['no_target'] is True
    assert out['gt_masks'].masks.shape == (0, 32, 48)
    assert out['gt_bboxes'].tensor.shape == (0, 4)
    assert out['gt_seg_map'].shape == (32, 48)
    assert out['gt_seg_map'].sum() == 0


def test_bytes_rle_counts():
    m = np.zeros((6, 5), np.uint8)
    m[1:3, 2:5] = 1
    rle = mask_utils.encode(np.asfortranarray(m))  # bytes counts
    sample = dict(
        height=6,
        width=5,
        no_target=False,
        instances=[
            dict(
                bbox=[2, 1, 5, 3],
                bbox_label=0,
                ignore_flag=0,
                mask=rle,
                ann_id=1,
            )
        ],
    )
    out = LoadReferringAnnotations()(sample)
    np.testing.assert_array_equal(out['gt_seg_map'], m)


def test_size_must_match_loaded_image(samples):
    sample = dict(samples[0], ori_shape=(10, 10))
    with pytest.raises(ValueError, match=r'img1\.png.*\(10, 10\).*height=32'):
        LoadReferringAnnotations()(sample)


def test_load_image_is_ours_in_mmgres_scope(samples):
    t = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    assert type(t) is LoadImageFromFile and isinstance(t, MMCVLoad)
    out = t(dict(samples[0]))
    assert out['img'].shape == (32, 48, 3)
    assert out['ori_shape'] == (32, 48)


def test_missing_image_names_path(samples, tmp_path):
    sample = dict(samples[0], img_path=str(tmp_path / 'gone.png'))
    with pytest.raises(
        FileNotFoundError,
        match=r'gone\.png.*img_id=1, ref_id=100, '
        r'sent_id=1000',
    ):
        LoadImageFromFile()(sample)


def test_unreadable_image_names_path(samples, tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'this is not an image')
    sample = dict(samples[0], img_path=str(bad))
    with pytest.raises(OSError, match=r'Cannot read image .*bad\.png'):
        LoadImageFromFile()(sample)
    assert osp.isfile(str(bad))
