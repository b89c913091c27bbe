# Copyright (c) mmgres contributors. All rights reserved.
"""The tiny stand-ins of GSVA's pre-training mixture: each set in its
official layout, its labels checked against the benchmark's objects."""

import json
import os.path as osp

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from mmgres.datasets.synthetic import (
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    generate_synthetic_grefcoco,
    write_synthetic_mixture,
)


@pytest.fixture(scope='module')
def mixture(tmp_path_factory):
    src = str(tmp_path_factory.mktemp('bench'))
    generate_synthetic_grefcoco(
        src,
        num_images=dict(train=4, val=1, testA=1, testB=1),
        img_size=64,
        seed=0,
        progress=False,
    )
    out = str(tmp_path_factory.mktemp('mixture'))
    counts = write_synthetic_mixture(src, out, num_images=3)
    return src, out, counts


def _objects(src):
    coco = COCO(osp.join(src, 'instances.json'))
    with open(osp.join(src, 'scenes.json')) as f:
        scenes = [s for s in json.load(f)['images'] if s['split'] == 'train']
    return coco, sorted(scenes, key=lambda s: s['image_id'])[:3]


def test_label_maps_name_the_objects(mixture):
    src, out, counts = mixture
    assert counts['ade20k'] == counts['cocostuff'] == 3
    coco, scenes = _objects(src)
    for scene in scenes:
        stem = osp.splitext(scene['file_name'])[0]
        ade = cv2.imread(
            osp.join(out, 'ade20k/annotations/training', f'{stem}.png'), 0
        )
        stuff = cv2.imread(
            osp.join(
                out, 'cocostuff/annotations/train2017',
                f'{stem}_labelTrainIds.png',
            ), 0,
        )  # fmt: skip
        assert osp.exists(
            osp.join(out, 'ade20k/images/training', scene['file_name'])
        )
        for obj in scene['objects']:
            ann = coco.loadAnns([obj['ann_id']])[0]
            mask = coco.annToMask(ann).astype(bool)
            # the annotation is the visible part: labelled with its class
            assert (ade[mask] == 1 + SHAPE_CLASSES.index(obj['shape'])).all()
            assert (stuff[mask] == COLOUR_CLASSES.index(obj['colour'])).all()
        anywhere = np.zeros_like(ade, bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=scene['image_id'])):
            anywhere |= coco.annToMask(ann).astype(bool)
        assert (ade[~anywhere] == 0).all() and (stuff[~anywhere] == 255).all()


def test_part_sets_are_coco_json_with_part_names(mixture):
    src, out, counts = mixture
    paco = COCO(
        osp.join(out, 'vlpart/paco/annotations/paco_lvis_v1_train.json')
    )
    names = {c['name'] for c in paco.loadCats(paco.getCatIds())}
    assert {
        'circle_(shape)',
        'circle_(shape):top',
        'square_(shape):bottom',
    } <= names
    assert len(paco.getAnnIds()) == counts['paco_lvis'] > 0
    img = paco.loadImgs(paco.getImgIds()[:1])[0]
    assert img['file_name'].startswith('train2017/')
    assert osp.exists(osp.join(out, 'coco', img['file_name']))
    # an object's top and bottom tile it
    coco, scenes = _objects(src)
    anns = paco.loadAnns(paco.getAnnIds(imgIds=scenes[0]['image_id']))
    whole, top, bottom = anns[0], anns[1], anns[2]
    assert whole['category_id'] + 1 == top['category_id']
    m = [paco.annToMask(a).astype(bool) for a in (whole, top, bottom)]
    assert (m[1] | m[2] == m[0]).all() and not (m[1] & m[2]).any()
    assert np.nonzero(m[1])[0].max() < np.nonzero(m[2])[0].min()
    pascal = COCO(osp.join(out, 'vlpart/pascal_part/train.json'))
    names = {c['name'] for c in pascal.loadCats(pascal.getCatIds())}
    assert {'circle:left', 'diamond:right'} <= names
    img = pascal.loadImgs(pascal.getImgIds()[:1])[0]
    assert osp.exists(
        osp.join(out, 'vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages',
                 img['file_name'])
    )  # fmt: skip


def test_llava_and_reason_seg_records(mixture):
    src, out, counts = mixture
    with open(osp.join(out, 'llava_dataset/llava_instruct_150k.json')) as f:
        records = json.load(f)
    assert len(records) == counts['llava'] == 3
    conv = records[0]['conversations']
    assert [t['from'] for t in conv] == ['human', 'gpt', 'human', 'gpt']
    assert conv[0]['value'].endswith('\n<image>')
    assert osp.exists(osp.join(out, 'coco/train2017', records[0]['image']))
    coco, scenes = _objects(src)
    stem = osp.splitext(scenes[0]['file_name'])[0]
    with open(
        osp.join(out, 'reason_seg/ReasonSeg/train', f'{stem}.json')
    ) as f:
        rec = json.load(f)
    assert rec['is_sentence'] is True and len(rec['text']) == 1
    (shape,) = rec['shapes']
    assert shape['label'] == 'target' and shape['shape_type'] == 'polygon'
    # the polygon outlines the biggest visible object
    anns = coco.loadAnns(coco.getAnnIds(imgIds=scenes[0]['image_id']))
    masks = [coco.annToMask(a).astype(bool) for a in anns]
    biggest = max(masks, key=lambda m: m.sum())
    poly = np.zeros(biggest.shape, np.uint8)
    cv2.fillPoly(poly, [np.array(shape['points'], np.int32)], 1)
    iou = (poly.astype(bool) & biggest).sum() / (
        poly.astype(bool) | biggest
    ).sum()
    assert iou > 0.8
    big = max(
        scenes[0]['objects'],
        key=lambda o: masks[[a['id'] for a in anns].index(o['ann_id'])].sum(),
    )
    assert conv[3]['value'] == f'the {big["colour"]} {big["shape"]}'


def test_no_training_image_is_named(tmp_path):
    (tmp_path / 'instances.json').write_text(
        json.dumps(dict(images=[], annotations=[], categories=[]))
    )
    (tmp_path / 'scenes.json').write_text(json.dumps(dict(images=[])))
    with pytest.raises(ValueError, match='no training image'):
        write_synthetic_mixture(str(tmp_path), str(tmp_path / 'out'))
