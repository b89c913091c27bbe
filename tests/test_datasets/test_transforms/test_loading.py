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


def test_vqa_sample_has_no_mask_ground_truth():
    # the GSVA mixture's VQA sample: no instances and no size in the
    # annotation (the loaded image gives it); empty boxes and masks, and no
    # merged mask, unlike a no-target sample
    sample = dict(ori_shape=(6, 5), task='vqa', no_target=False)
    out = LoadReferringAnnotations()(sample)
    assert out['gt_masks'].masks.shape == (0, 6, 5)
    assert out['gt_bboxes'].tensor.shape == (0, 4)
    assert out['gt_bboxes_labels'].shape == (0,)
    assert 'gt_seg_map' not in out
    assert out['no_target'] is False


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


def test_decoded_masks_are_c_ordered_and_exact():
    # pycocotools decodes column-major; the masks come back in C order
    # with the same pixels, on a non-square image (a transposition that
    # mixed up height and width would fail here)
    from mmgres.datasets.utils.segmentation import (
        decode_segmentation,
        fortran_to_c,
    )

    m = np.zeros((6, 9), np.uint8)
    m[1:3, 2:8] = 1
    m[5, 0] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    out = decode_segmentation(rle, 6, 9)
    assert out.flags['C_CONTIGUOUS'] and out.dtype == np.uint8
    np.testing.assert_array_equal(out, m)
    # a triangle x 0..4, y 0..4 under the diagonal: pycocotools' raster
    tri = decode_segmentation([[0, 0, 4, 4, 0, 4]], 5, 7)
    assert tri.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(
        tri,
        mask_utils.decode(
            mask_utils.merge(
                mask_utils.frPyObjects([[0, 0, 4, 4, 0, 4]], 5, 7)
            )
        ),
    )
    f = np.asfortranarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert fortran_to_c(f).tolist() == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
    ]
    assert fortran_to_c(f).flags['C_CONTIGUOUS']


def test_merged_mask_of_overlapping_targets_is_binary():
    # two RLE targets sharing 2 pixels: the union has 6 + 4 - 2 = 8 pixels,
    # each 1 (not 2)
    a = np.zeros((4, 5), np.uint8)
    a[1, 0:3] = a[2, 0:3] = 1  # 6 px
    b = np.zeros((4, 5), np.uint8)
    b[2, 1:3] = b[3, 1:3] = 1  # 4 px, 2 of them in a
    instances = [
        dict(
            bbox=[0, 0, 1, 1],
            bbox_label=0,
            ignore_flag=0,
            mask=mask_utils.encode(np.asfortranarray(m)),
            ann_id=k,
        )
        for k, m in enumerate((a, b))
    ]
    out = LoadReferringAnnotations()(
        dict(height=4, width=5, instances=instances)
    )
    seg = out['gt_seg_map']
    assert seg.dtype == np.uint8 and seg.max() == 1 and seg.sum() == 8
    np.testing.assert_array_equal(seg, a | b)
