"""PackReferringInputs and full pipelines against the data contract."""

import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from refer_fixtures import dataset_cfg

from mmgres.registry import DATASETS

TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 64), keep_ratio=False),  # (w, h)
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=(96, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=1.0),
    dict(type='PackReferringInputs'),
]
META = {
    'img_path',
    'img_id',
    'text',
    'ref_id',
    'sent_id',
    'no_target',
    'ori_shape',
    'img_shape',
    'scale_factor',
    'flip',
    'flip_direction',
}


def build(root, kind='grefcoco', pipeline=TEST_PIPELINE, **kw):
    return DATASETS.build(dataset_cfg(root, kind, pipeline=pipeline, **kw))


def test_test_pipeline_keeps_gt_in_original_frame(refer_root):
    ds = build(refer_root, test_mode=True)
    packed = ds[2]  # ref 101: anns 12 (RLE) + 13 (uncompressed RLE)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.shape == (3, 64, 96) and inputs.dtype == torch.uint8
    assert isinstance(sample, DetDataSample)
    assert META <= set(sample.metainfo)
    assert sample.text == 'both blocks on the right'
    assert (sample.ref_id, sample.sent_id, sample.img_id) == (101, 1002, 1)
    assert sample.no_target is False
    assert sample.ori_shape == (32, 48) and sample.img_shape == (64, 96)
    assert sample.scale_factor == (2.0, 2.0)
    assert sample.flip is False and sample.flip_direction is None

    gt = sample.gt_instances
    assert isinstance(gt.bboxes, HorizontalBoxes)
    torch.testing.assert_close(  # original frame, not x2
        gt.bboxes.tensor,
        torch.tensor([[30.0, 20.0, 40.0, 28.0], [40.0, 0.0, 48.0, 5.0]]),
    )
    assert gt.labels.tolist() == [0, 0]
    assert isinstance(gt.masks, BitmapMasks)
    assert gt.masks.masks.shape == (2, 32, 48)
    assert gt.masks.masks.sum(axis=(1, 2)).tolist() == [80, 40]
    seg = sample.gt_sem_seg.data
    assert seg.shape == (1, 32, 48) and seg.dtype == torch.uint8
    assert int(seg.sum()) == 120
    assert bool(seg[0, 0:5, 40:48].all()) and bool(seg[0, 20:28, 30:40].all())


def test_no_target_sample(refer_root):
    ds = build(refer_root, test_mode=True)
    sample = ds[3]['data_samples']  # ref 102, [-1]
    assert sample.no_target is True
    assert len(sample.gt_instances) == 0
    assert sample.gt_instances.bboxes.tensor.shape == (0, 4)
    assert sample.gt_instances.masks.masks.shape == (0, 32, 48)
    assert sample.gt_sem_seg.data.shape == (1, 32, 48)
    assert int(sample.gt_sem_seg.data.sum()) == 0
    # the contract's dict form carries the same
    as_dict = sample.to_dict()
    assert as_dict['no_target'] is True
    assert as_dict['gt_sem_seg']['data'].shape == (1, 32, 48)


def test_train_pipeline_flips_everything(refer_root):
    ds = build(refer_root, pipeline=TRAIN_PIPELINE)
    sample = ds[2]['data_samples']
    assert sample.text == 'both blocks on the left'
    assert sample.flip is True and sample.flip_direction == 'horizontal'
    # resized x2 (96 x 64), then mirrored: ann 13 cols 40..48 -> 80..96 ->
    # 0..16; ann 12 cols 30..40 -> 60..80 -> 16..36
    torch.testing.assert_close(
        sample.gt_instances.bboxes.tensor,
        torch.tensor([[16.0, 40.0, 36.0, 56.0], [0.0, 0.0, 16.0, 10.0]]),
    )
    seg = sample.gt_sem_seg.data[0].numpy()
    assert seg.shape == (64, 96)
    expected = np.zeros((64, 96), np.uint8)
    expected[40:56, 16:36] = 1
    expected[0:10, 0:16] = 1
    np.testing.assert_array_equal(seg, expected)


@pytest.mark.parametrize(
    'kind, idx, key, value',
    [
        ('rrefcoco', 1, 'exist', False),
        ('refzom', 0, 'source', 'one'),
    ],
)
def test_dataset_specific_meta(refer_root, kind, idx, key, value):
    sample = build(refer_root, kind)[idx]['data_samples']
    assert sample.metainfo[key] == value
    if key == 'exist':
        assert sample.no_target is True and len(sample.gt_instances) == 0


def test_mixture_meta_keys():
    # GSVA's pre-training mixture: the kind of sample and its dialogue
    # fields reach the metainfo; a referring sample has none of them
    from mmgres.datasets.transforms import PackReferringInputs

    img = np.zeros((4, 6, 3), np.uint8)
    turns = [{'from': 'human', 'value': '<image>\nWhat?'}]
    packed = PackReferringInputs()(
        dict(
            img=img,
            task='vqa',
            conversations=turns,
            is_sentence=True,
            explanation='Because.',
        )
    )
    meta = packed['data_samples'].metainfo
    assert meta['task'] == 'vqa' and meta['conversations'] == turns
    assert meta['is_sentence'] is True and meta['explanation'] == 'Because.'
    plain = PackReferringInputs()(dict(img=img))['data_samples'].metainfo
    assert not {'task', 'conversations', 'is_sentence', 'explanation'} & set(
        plain
    )


CONTEXT_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations', with_context=True),
    dict(type='Resize', scale=(96, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=1.0),
    dict(type='PackReferringInputs'),
]


def _two_category_root(refer_root, tmp_path):
    """The fixture data with a second category (id 7) for ann 11."""
    root = str(tmp_path / 'two_cats')
    shutil.copytree(refer_root, root)
    path = osp.join(root, 'instances.json')
    with open(path) as f:
        coco = json.load(f)
    coco['categories'].append(dict(id=7, name='ball', supercategory='x'))
    for ann in coco['annotations']:
        if ann['id'] == 11:
            ann['category_id'] = 7
    with open(path, 'w') as f:
        json.dump(coco, f)
    return root


def test_dataset_context_instances(refer_root, tmp_path):
    ds = build(refer_root, pipeline=[], with_context=True)
    # image 1 has 11, 12, 13 and the crowd object 14, which is left out
    info = ds.get_data_info(2)  # ref 101: targets 12 and 13
    labels = {i['ann_id']: i['bbox_label'] for i in info['context_instances']}
    assert labels == {11: 1, 12: 0, 13: 0}
    assert [i['category'] for i in info['context_instances']] == [0, 0, 0]
    two = build(
        _two_category_root(refer_root, tmp_path),
        pipeline=[],
        with_context=True,
    )
    context = two.get_data_info(2)['context_instances']
    # sorted category ids [1, 7]: ann 11 (id 7) is category 1
    assert [(i['ann_id'], i['category']) for i in context] == [
        (11, 1),
        (12, 0),
        (13, 0),
    ]
    info = ds.get_data_info(3)  # ref 102: no target
    assert all(i['bbox_label'] == 1 for i in info['context_instances'])
    assert len(info['context_instances']) == 3
    # without the option nothing changes
    assert 'context_instances' not in build(refer_root, pipeline=[])[2]
    # image 2: 15 has only an invalid polygon and is left out of the
    # context too; it is still counted once, as a dropped target
    val = build(refer_root, pipeline=[], split='val', with_context=True)
    info = val.get_data_info(0)  # ref 104: target 16
    assert [i['ann_id'] for i in info['context_instances']] == [16]


def test_train_pipeline_with_context_flips_all_objects(refer_root):
    ds = build(refer_root, pipeline=CONTEXT_PIPELINE, with_context=True)
    sample = ds[2]['data_samples']  # ref 101, flipped
    assert sample.text == 'both blocks on the left'
    context = sample.gt_context_instances
    assert context.labels.tolist() == [1, 0, 0]  # anns 11, 12, 13
    assert context.categories.tolist() == [0, 0, 0]
    # ann 11 bbox [2, 4, 12, 14] -> x2 [4, 8, 24, 28] -> mirrored in 96
    torch.testing.assert_close(
        context.bboxes.tensor,
        torch.tensor(
            [
                [72.0, 8.0, 92.0, 28.0],
                [16.0, 40.0, 36.0, 56.0],
                [0.0, 0.0, 16.0, 10.0],
            ]
        ),
    )
    assert context.masks.masks.shape == (3, 64, 96)
    # gt_instances and the merged mask keep the targets only
    gt = sample.gt_instances
    assert gt.labels.tolist() == [0, 0]
    torch.testing.assert_close(gt.bboxes.tensor, context.bboxes.tensor[1:])
    np.testing.assert_array_equal(gt.masks.masks, context.masks.masks[1:])
    seg = sample.gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(
        seg, context.masks.masks[1:].any(0).astype(np.uint8)
    )
    assert 'with_context' not in sample.metainfo
    assert 'categories' not in gt

    nt = ds[3]['data_samples']  # ref 102: no target, 3 context objects
    assert nt.no_target is True and len(nt.gt_instances) == 0
    assert nt.gt_context_instances.labels.tolist() == [1, 1, 1]
    assert int(nt.gt_sem_seg.data.sum()) == 0


def test_context_categories_survive_the_pipeline(refer_root, tmp_path):
    root = _two_category_root(refer_root, tmp_path)
    ds = build(root, pipeline=CONTEXT_PIPELINE, with_context=True)
    context = ds[2]['data_samples'].gt_context_instances
    assert context.labels.tolist() == [1, 0, 0]
    assert context.categories.tolist() == [1, 0, 0]
    nt = ds[3]['data_samples'].gt_context_instances  # ref 102, no target
    assert nt.labels.tolist() == [1, 1, 1]
    assert nt.categories.tolist() == [1, 0, 0]


def test_context_loading_needs_a_context_dataset(refer_root):
    ds = build(refer_root, pipeline=CONTEXT_PIPELINE)
    with pytest.raises(KeyError, match='with_context=True'):
        ds[2]


def test_synthetic_tta_pipeline_gives_a_plain_and_a_mirrored_view(
    refer_root,
):
    """The ``tta_pipeline`` of the synthetic dataset config (used by
    ``tools/test.py --tta``): two views per sample, the second mirrored
    with its words swapped; both keep the ground truth of their frame."""
    from mmengine.config import Config

    base = Config.fromfile(
        osp.join(
            osp.dirname(__file__),
            '../../../configs/_base_/datasets/synthetic_grefcoco.py',
        )
    )
    assert base.tta_pipeline[-1].type == 'FlipTestTimeAug'
    ds = build(refer_root, pipeline=base.tta_pipeline, test_mode=True)
    packed = ds[2]
    plain, mirrored = packed['data_samples']
    assert [s.text for s in (plain, mirrored)] == [
        'both blocks on the right',
        'both blocks on the left',
    ]
    assert plain.flip is False and mirrored.flip is True
    assert mirrored.flip_direction == 'horizontal'
    a, b = packed['inputs']
    torch.testing.assert_close(a.flip(-1), b)
    torch.testing.assert_close(
        plain.gt_sem_seg.data.flip(-1), mirrored.gt_sem_seg.data
    )
