# Copyright (c) mmgres contributors. All rights reserved.
"""SemSegReferDataset / LoadClassMask on tiny ADE20K and COCO-Stuff trees.

The recipe is LISA's ``SemSegDataset`` (``utils/sem_seg_dataset.py``),
which GSVA's pre-training keeps (GSVA appendix A: "we follow the dataset
configurations in LISA").
"""

import mmcv
import numpy as np
import pytest
from mmseg.datasets import ADE20KDataset, COCOStuffDataset

from mmgres.datasets import SemSegReferDataset
from mmgres.datasets.sem_seg_refer import class_text, is_skipped_class
from mmgres.datasets.transforms import LoadClassMask

# raw ADE20K values (0 = "other", class k is k + 1): wall=1, building=2,
# sky=3, tree=5; 255 is read as 254 after reduce_zero_label, then ignored
ADE_A = np.array([[0, 1, 1, 5], [2, 2, 0, 5], [2, 2, 1, 255]], dtype=np.uint8)
ADE_B = np.array([[0, 3], [3, 0]], dtype=np.uint8)  # sky only


def _write(root, img_dir, ann_dir, name, label, suffix='.png'):
    h, w = label.shape
    img = np.zeros((h, w, 3), dtype=np.uint8)
    mmcv.imwrite(img, str(root / img_dir / f'{name}.jpg'))
    if label is not None:
        mmcv.imwrite(label, str(root / ann_dir / f'{name}{suffix}'))


def _ade(tmp_path, **kwargs):
    _write(tmp_path, 'images/training', 'annotations/training', 'a', ADE_A)
    _write(tmp_path, 'images/training', 'annotations/training', 'b', ADE_B)
    inner = dict(
        type='mmseg.ADE20KDataset',
        data_root=str(tmp_path),
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'
        ),
    )
    return SemSegReferDataset(dataset=inner, **kwargs)


def test_ade20k_samples_and_texts(tmp_path):
    ds = _ade(tmp_path, classes_per_image=2)
    # LISA: a sampled class per question, num_classes_per_sample per image
    assert len(ds) == 4
    assert ds.metainfo['classes'] == ADE20KDataset.METAINFO['classes']
    a0, a1 = ds.get_data_info(0), ds.get_data_info(1)
    assert a0['img_path'].endswith('a.jpg') and a0['no_target'] is False
    # present after reduce_zero_label: wall 0, building 1, tree 4 (255 out)
    assert {a0['class_id'], a1['class_id']} <= {0, 1, 4}
    assert a0['class_id'] != a1['class_id']  # without replacement
    names = {0: 'wall', 1: 'building', 4: 'tree'}
    assert a0['text'] == names[a0['class_id']]
    # deterministic per index
    assert ds.get_data_info(0) == a0
    b0, b1 = ds.get_data_info(2), ds.get_data_info(3)
    assert (b0['class_id'], b0['text']) == (2, 'sky')
    assert b1['class_id'] is None and ds.prepare_data(3) is None


def test_every_present_class_is_drawn(tmp_path):
    ds = _ade(tmp_path, classes_per_image=3)
    drawn = sorted(ds.get_data_info(i)['class_id'] for i in range(3))
    assert drawn == [0, 1, 4]


def test_class_mask_hand_checked(tmp_path):
    ds = _ade(
        tmp_path,
        classes_per_image=3,
        pipeline=[dict(type='LoadClassMask')],
    )
    info = ds.get_data_info(0)
    info['class_id'] = 1  # building: raw value 2
    out = LoadClassMask().transform(info)
    expected = [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]]
    assert out['gt_seg_map'].tolist() == expected
    assert out['gt_masks'].masks.tolist() == [expected]
    assert out['gt_bboxes'].tensor.tolist() == [[0.0, 1.0, 2.0, 3.0]]
    assert out['gt_bboxes_labels'].tolist() == [0]
    assert (out['height'], out['width']) == (3, 4)
    # wall (raw 1): the 255 pixel at (2, 3) is ignored, not wall
    info['class_id'] = 0
    wall = LoadClassMask().transform(info)['gt_seg_map']
    assert wall.tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0]]


def test_through_the_pipeline(tmp_path):
    ds = _ade(
        tmp_path,
        classes_per_image=1,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadClassMask'),
            dict(type='PackReferringInputs'),
        ],
    )
    packed = ds[1]  # image b: sky
    sample = packed['data_samples']
    assert sample.gt_sem_seg.data.tolist() == [[[0, 1], [1, 0]]]
    assert sample.no_target is False
    assert len(sample.gt_instances) == 1


def test_lisa_class_names():
    # LISA's ade20k_classes.json is mmseg's list with 'bed ' stripped
    assert class_text('bed ') == 'bed'
    assert not any(
        is_skipped_class(c) for c in ADE20KDataset.METAINFO['classes']
    )
    # LISA's COCO-Stuff: names with '-' are ignored; its list says 'sky'
    assert is_skipped_class('wall-other') and is_skipped_class('desk-stuff')
    assert class_text('sky-other') == 'sky'
    kept = [
        c
        for c in COCOStuffDataset.METAINFO['classes']
        if not is_skipped_class(c)
    ]
    assert len(kept) == 171 - 28


def test_cocostuff(tmp_path):
    classes = COCOStuffDataset.METAINFO['classes']
    person, sky = classes.index('person'), classes.index('sky-other')
    brick = classes.index('wall-brick')
    label = np.array([[person, sky, brick], [255, sky, brick]], dtype=np.uint8)
    _write(
        tmp_path,
        'images/train2017',
        'annotations/train2017',
        '000000000001',
        label,
        suffix='_labelTrainIds.png',
    )
    inner = dict(
        type='mmseg.COCOStuffDataset',
        data_root=str(tmp_path),
        data_prefix=dict(
            img_path='images/train2017', seg_map_path='annotations/train2017'
        ),
    )
    ds = SemSegReferDataset(dataset=inner, classes_per_image=3)
    infos = [ds.get_data_info(i) for i in range(3)]
    assert sorted(i['text'] for i in infos[:2]) == ['person', 'sky']
    assert infos[2]['class_id'] is None  # wall-brick is never asked about


def test_missing_seg_map(tmp_path):
    ds = _ade(tmp_path)
    (tmp_path / 'annotations/training/b.png').unlink()
    with pytest.raises(FileNotFoundError, match='b.png'):
        ds.get_data_info(3)


def test_unknown_label_value(tmp_path):
    ds = _ade(tmp_path, classes_per_image=1)
    mmcv.imwrite(
        np.full((2, 2), 200, np.uint8),
        str(tmp_path / 'annotations/training/b.png'),
    )
    with pytest.raises(ValueError, match='not classes'):
        ds.get_data_info(1)


def test_bad_classes_per_image(tmp_path):
    with pytest.raises(ValueError, match='classes_per_image'):
        _ade(tmp_path, classes_per_image=0)


def test_mapillary_keeps_hyphen_classes(tmp_path):
    # LISA reads Mapillary Vistas v2.0 labels as they are: "Lane Marking -
    # Dashed Line" is asked about (the "-" rule is COCO-Stuff's)
    from mmseg.datasets import MapillaryDataset_v2

    classes = MapillaryDataset_v2.METAINFO['classes']
    dashed = classes.index('Lane Marking - Dashed Line')
    bird = classes.index('Bird')
    label = np.array([[dashed, bird], [dashed, dashed]], dtype=np.uint8)
    _write(tmp_path, 'training/images', 'training/v2.0/labels', 'm', label)
    inner = dict(
        type='mmseg.MapillaryDataset_v2',
        data_root=str(tmp_path),
        data_prefix=dict(
            img_path='training/images', seg_map_path='training/v2.0/labels'
        ),
    )
    kept = SemSegReferDataset(
        dataset=inner, classes_per_image=2, skip_hyphen_classes=False
    )
    texts = sorted(kept.get_data_info(i)['text'] for i in range(2))
    assert texts == ['bird', 'lane marking - dashed line']
    skipped = SemSegReferDataset(dataset=inner, classes_per_image=2)
    assert skipped.get_data_info(0)['text'] == 'bird'
    assert skipped.get_data_info(1)['class_id'] is None


def test_scan_lists_every_label_map_problem(tmp_path):
    ds = _ade(tmp_path)
    samples, problems = ds.scan()
    assert problems == []
    assert sorted(s['img_path'].split('/')[-1] for s in samples) == [
        'a.jpg',
        'b.jpg',
    ]
    assert {(s['height'], s['width']) for s in samples} == {(3, 4), (2, 2)}
    # a map of the unlabelled value only, a value past the 150 classes and
    # a missing map: three problems, none raised
    _write(tmp_path, 'images/training', 'annotations/training', 'c',
           np.zeros((2, 2), np.uint8))  # fmt: skip
    _write(tmp_path, 'images/training', 'annotations/training', 'd',
           np.full((2, 2), 200, np.uint8))  # fmt: skip
    mmcv.imwrite(np.zeros((2, 2, 3), np.uint8),
                 str(tmp_path / 'images/training/e.jpg'))  # fmt: skip
    _, problems = _ade(tmp_path).scan()
    assert len(problems) == 3
    assert 'c.png: no class to ask about' in problems[0]
    assert 'd.png: label values [199]' in problems[1]
    assert 'e.png' in problems[2] and 'not found' in problems[2]
