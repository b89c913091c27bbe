# Copyright (c) mmgres contributors. All rights reserved.
"""ReasonSegDataset on a tiny split in LISA's release format.

The expected masks follow LISA's ``utils/data_processing.py``
(``get_mask_from_json``): points truncated to int, polygons filled with
their 1 px outline, largest first, "ignore" drawn as 255 and "flag"
skipped; the target is ``mask == 1``.
"""

import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmgres.datasets import ReasonSegDataset, ReferDataError
from mmgres.datasets.utils import find_dataset_problems

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]


def poly(label, points, shape_type='polygon'):
    return dict(label=label, shape_type=shape_type, points=points)


# a.jpg, 10 x 12 (h x w): two targets, an ignore region inside the second
# (smaller, so drawn after it whatever the file order) and a whole-image
# "flag" (skipped).
ANNO_A = dict(
    text=['the red boxes', '  what is red  '],
    is_sentence=False,
    shapes=[
        # truncated to the square x, y in 1..4 (16 px)
        poly('target', [[1.9, 1.2], [4.7, 1.0], [4.9, 4.99], [1.0, 4.6]]),
        # x in 8..9, y in 3..5 (6 px), carved out of the next target
        # although listed before it
        poly('ignore', [[8, 3], [9, 3], [9, 5], [8, 5]]),
        # x in 7..10, y in 2..7 (24 px)
        poly('target', [[7, 2], [10, 2], [10, 7], [7, 7]]),
        poly('flag', [[0, 0], [11, 0], [11, 9], [0, 9]]),
    ],
)
# b.jpg, 6 x 8: a target inside a larger ignore region keeps its pixels
# (drawn after it, being smaller)
ANNO_B = dict(
    text=['Which part would you hold to carry this?'],
    is_sentence=True,
    shapes=[
        poly('target', [[2, 2], [3, 2], [3, 3], [2, 3]]),
        poly('ignore', [[0, 0], [5, 0], [5, 5], [0, 5]]),
    ],
)


def expected_a():
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[1:5, 1:5] = 1
    mask[2:8, 7:11] = 1
    mask[3:6, 8:10] = 0
    return mask


def expected_b():
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[2:4, 2:4] = 1
    return mask


def write_sample(folder, stem, anno, hw, exif=None):
    os.makedirs(folder, exist_ok=True)
    img = Image.fromarray(np.full((*hw, 3), 128, dtype=np.uint8))
    kwargs = {} if exif is None else dict(exif=exif)
    img.save(osp.join(folder, f'{stem}.jpg'), **kwargs)
    if anno is not None:
        with open(osp.join(folder, f'{stem}.json'), 'w') as f:
            json.dump(anno, f)


@pytest.fixture
def root(tmp_path):
    write_sample(str(tmp_path / 'val'), 'a', ANNO_A, (10, 12))
    write_sample(str(tmp_path / 'val'), 'b', ANNO_B, (6, 8))
    return str(tmp_path)


def build(root, **kwargs):
    return ReasonSegDataset(
        data_root=root, split='val', pipeline=PIPELINE, **kwargs
    )


def test_one_sample_per_query(root):
    ds = build(root)
    assert len(ds) == 3
    infos = [ds.get_data_info(i) for i in range(3)]
    assert [(i['img_id'], i['sent_id']) for i in infos] == [
        ('a', 0),
        ('a', 1),
        ('b', 0),
    ]
    assert [i['text'] for i in infos] == [
        'the red boxes',
        'what is red',
        'Which part would you hold to carry this?',
    ]
    assert [i['is_sentence'] for i in infos] == [False, False, True]
    assert all(i['no_target'] is False for i in infos)
    assert infos[0]['img_path'] == osp.join(root, 'val', 'a.jpg')
    assert (infos[0]['height'], infos[0]['width']) == (10, 12)


def test_lisa_mask_through_pipeline(root):
    ds = build(root)
    for idx, expected in ((0, expected_a()), (2, expected_b())):
        sample = ds[idx]['data_samples']
        seg = sample.gt_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(seg, expected)
        gt = sample.gt_instances
        assert len(gt) == 1
        np.testing.assert_array_equal(gt.masks.masks[0], expected)
    box = ds[0]['data_samples'].gt_instances.bboxes.tensor[0].tolist()
    # pixels x 1..10, y 1..7 (the ignore region removes no border pixel)
    assert box == [1.0, 1.0, 11.0, 8.0]
    assert int(expected_a().sum()) == 16 + 24 - 6


def test_exif_rotation_swaps_size(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    anno = dict(ANNO_B, shapes=[poly('target', [[0, 0], [2, 0], [2, 2]])])
    write_sample(str(tmp_path / 'val'), 'r', anno, (6, 8), exif=exif)
    ds = build(str(tmp_path))
    info = ds.get_data_info(0)
    assert (info['height'], info['width']) == (8, 6)
    # the image as the pipeline decodes it has the same size
    assert ds[0]['data_samples'].ori_shape == (8, 6)


def test_json_missing(root):
    os.remove(osp.join(root, 'val', 'b.json'))
    with pytest.raises(FileNotFoundError, match=r'b\.json'):
        build(root)


def test_non_polygon_shape(root):
    bad = dict(ANNO_A, shapes=[poly('target', [[0, 0], [3, 3]], 'rectangle')])
    write_sample(osp.join(root, 'val'), 'b', bad, (6, 8))
    with pytest.raises(ReferDataError, match=r"b\.json.*'rectangle'"):
        build(root)


def test_empty_text_list(root):
    write_sample(osp.join(root, 'val'), 'b', dict(ANNO_B, text=[]), (6, 8))
    with pytest.raises(ReferDataError, match=r'b\.json.*"text"'):
        build(root)


def test_only_ignore_shapes(root):
    bad = dict(ANNO_B, shapes=ANNO_B['shapes'][1:])
    write_sample(osp.join(root, 'val'), 'b', bad, (6, 8))
    with pytest.raises(ReferDataError, match=r'b\.json: no target polygon'):
        build(root)


def test_check_dataset_lists_every_problem(root):
    os.remove(osp.join(root, 'val', 'a.json'))
    write_sample(osp.join(root, 'val'), 'b', dict(ANNO_B, text=[]), (6, 8))
    cfg = dict(type='ReasonSegDataset', data_root=root, split='val')
    problems = find_dataset_problems(cfg)
    assert len(problems) == 2
    assert 'a.json' in problems[0] and 'b.json' in problems[1]


def write_explanatory(root, items):
    os.makedirs(osp.join(root, 'explanatory'), exist_ok=True)
    with open(osp.join(root, 'explanatory', 'train.json'), 'w') as f:
        json.dump(items, f)


def test_task_and_no_explanation_without_the_file(root):
    ds = build(root)
    infos = [ds.get_data_info(i) for i in range(3)]
    assert all(i['task'] == 'reason' for i in infos)
    assert all(i['explanation'] is None for i in infos)


def test_explanation_by_image_name(root):
    # the release's img_to_explanation: keyed by "image", answer "outputs"
    write_explanatory(
        root,
        [
            dict(image='b.jpg', query='q', outputs='The handle, to hold.'),
            dict(image='other.jpg', query='q', outputs='unused'),
        ],
    )
    ds = build(root)
    assert [ds.get_data_info(i)['explanation'] for i in range(3)] == [
        None,
        None,
        'The handle, to hold.',
    ]
    sample = ds[2]['data_samples']  # packed into the metainfo
    assert sample.task == 'reason'
    assert sample.is_sentence is True
    assert sample.explanation == 'The handle, to hold.'


def test_malformed_explanatory_file(root):
    write_explanatory(root, [dict(image='b.jpg')])
    with pytest.raises(ReferDataError, match=r'train\.json: entry 0'):
        build(root)
    cfg = dict(type='ReasonSegDataset', data_root=root, split='val')
    problems = find_dataset_problems(cfg)
    assert len(problems) == 1 and 'entry 0' in problems[0]
