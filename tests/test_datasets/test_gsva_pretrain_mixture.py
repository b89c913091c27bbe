# Copyright (c) mmgres contributors. All rights reserved.
"""configs/_base_/datasets/gsva_pretrain_mixture.py: GSVA's pre-training
mixture (GSVA appendix A: sem_seg : refer_seg : vqa : reason_seg =
9 : 6 : 3 : 1, each task's datasets equally likely as in the release),
built on a tiny tree in the release's layout under tmp_path."""

import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from refer_fixtures import (
    IMAGES,
    grefs,
    image_array,
    instances_json,
    refcoco_refs,
    write_json,
    write_pickle,
)

from mmgres.datasets.utils import find_dataset_problems
from mmgres.registry import DATA_SAMPLERS, DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    REPO, 'configs', '_base_', 'datasets', 'gsva_pretrain_mixture.py'
)
GROUPS = dict(
    sem_seg=[
        'SemSegReferDataset',
        'SemSegReferDataset',
        'SemSegReferDataset',
        'PacoLvisReferDataset',
        'PascalPartReferDataset',
    ],
    refer_seg=[
        'RefCLEFDataset',
        'RefCOCODataset',
        'RefCOCODataset',
        'RefCOCODataset',
        'GRefCOCODataset',
    ],
    vqa=['LlavaInstructDataset'],
    reason_seg=['ReasonSegDataset'],
)
COCO_IMAGE = '000000000001.jpg'


def _image(path, hw):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((*hw, 3), 60, np.uint8))


def _label(path, label):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, label)


def write_release_tree(root):
    """One image or annotation per dataset, at the release's paths."""

    def j(*parts):
        return osp.join(root, *parts)

    # ADE20K: raw 1 (wall) and 3 (sky); COCO-Stuff: person (0), sky-other
    _image(j('ade20k/images/training/a.jpg'), (2, 2))
    _label(
        j('ade20k/annotations/training/a.png'),
        np.array([[1, 1], [3, 3]], np.uint8),
    )
    _image(j('coco/train2017', COCO_IMAGE), (4, 6))
    _label(
        j('cocostuff/train2017/000000000001_labelTrainIds.png'),
        np.zeros((4, 6), np.uint8),
    )
    # Mapillary Vistas v2.0: 0 (bird) and 35 ("Lane Marking - Dashed Line",
    # kept: the "-" rule is COCO-Stuff's)
    _image(j('mapillary/training/images/m.jpg'), (2, 2))
    _label(
        j('mapillary/training/v2.0/labels/m.png'),
        np.array([[0, 35], [35, 35]], np.uint8),
    )
    square = [[1, 1, 4, 1, 4, 3, 1, 3]]
    part_ann = dict(
        id=1,
        image_id=1,
        category_id=1,
        segmentation=square,
        bbox=[1, 1, 3, 2],
        area=6,
        iscrowd=0,
    )
    write_json(
        j('vlpart/paco/annotations/paco_lvis_v1_train.json'),
        dict(
            images=[
                dict(
                    id=1,
                    file_name='train2017/' + COCO_IMAGE,
                    height=4,
                    width=6,
                )
            ],
            annotations=[part_ann],
            categories=[dict(id=1, name='mug:handle')],
        ),
    )
    write_json(
        j('vlpart/pascal_part/train.json'),
        dict(
            images=[
                dict(id=1, file_name='2008_000001.jpg', height=4, width=6)
            ],
            annotations=[part_ann],
            categories=[dict(id=1, name='cow:head')],
        ),
    )
    _image(
        j(
            'vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages',
            '2008_000001.jpg',
        ),
        (4, 6),
    )
    # the referring sets share the fixture instances.json and images
    for folder in ('mscoco/images/train2014', 'saiapr_tc-12'):
        for img_id, info in IMAGES.items():
            path = j('refer_seg/images', folder, info['file_name'])
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, image_array(img_id))
    for name, refs in (
        ('refclef', 'refs(unc).p'),
        ('refcoco', 'refs(unc).p'),
        ('refcoco+', 'refs(unc).p'),
        ('refcocog', 'refs(umd).p'),
    ):
        write_json(j('refer_seg', name, 'instances.json'), instances_json())
        write_pickle(j('refer_seg', name, refs), refcoco_refs())
    write_json(j('refer_seg/grefcoco/instances.json'), instances_json())
    write_json(j('refer_seg/grefcoco/grefs(unc).json'), grefs())
    write_json(
        j('llava_dataset/llava_instruct_150k.json'),
        [
            dict(
                id='1',
                image=COCO_IMAGE,
                conversations=[
                    dict({'from': 'human', 'value': '<image>\nWhat?'}),
                    dict({'from': 'gpt', 'value': 'A mug.'}),
                ],
            )
        ],
    )
    for split in ('train', 'val'):
        folder = j('reason_seg/ReasonSeg', split)
        _image(osp.join(folder, 'r.jpg'), (4, 6))
        with open(osp.join(folder, 'r.json'), 'w') as f:
            json.dump(
                dict(
                    text=['what holds the tea?'],
                    is_sentence=True,
                    shapes=[
                        dict(
                            label='target',
                            shape_type='polygon',
                            points=[[1, 1], [3, 1], [3, 2]],
                        )
                    ],
                ),
                f,
            )
    write_json(
        j('reason_seg/ReasonSeg/explanatory/train.json'),
        [dict(image='r.jpg', query='q', outputs='The mug holds it.')],
    )
    return root


def _rebase(node, root):
    """Every ``data_root`` of the config moved from ``data/`` to ``root``
    (what ``--cfg-options ...data_root=`` does per dataset)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root' and value.startswith('data/'):
                node[key] = osp.join(root, value[len('data/') :])
            else:
                _rebase(value, root)
    elif isinstance(node, list):
        for item in node:
            _rebase(item, root)


@pytest.fixture
def cfg():
    return Config.fromfile(CONFIG)


def test_datasets_and_ratios(cfg):
    loader = cfg.train_dataloader
    datasets = loader.dataset.datasets
    assert loader.dataset.type == 'ConcatDataset'
    assert [d.type for d in datasets] == sum(GROUPS.values(), [])
    assert all(d.data_root.startswith('data/') for d in datasets[3:])
    assert loader.sampler.type == 'RatioMixtureSampler'
    ratios = loader.sampler.ratios
    assert len(ratios) == len(datasets)
    # 9 : 6 : 3 : 1 over the tasks, spread evenly inside each task
    start, sums = 0, []
    for names in GROUPS.values():
        group = ratios[start : start + len(names)]
        assert len(set(group)) == 1
        sums.append(sum(group))
        start += len(names)
    assert sums == pytest.approx([9, 6, 3, 1])
    for d in datasets:
        Compose(d.pipeline)
    first = [t['type'] for t in datasets[0].pipeline]
    assert first[1] == 'LoadClassMask'
    assert [t['type'] for t in datasets[3].pipeline] == [
        'LoadImageFromFile',
        'LoadReferringAnnotations',
        'Resize',
        'PackReferringInputs',
    ]
    assert cfg.val_dataloader.dataset.split == 'val'


def test_builds_on_the_release_layout(cfg, tmp_path):
    root = write_release_tree(str(tmp_path))
    train = cfg.train_dataloader.to_dict()
    _rebase(train, root)
    for part in train['dataset']['datasets']:
        # no serialization: its gc.collect() is most of a build's time
        part['serialize_data'] = False
        if 'dataset' in part:
            part['dataset']['serialize_data'] = False
    dataset = DATASETS.build(train['dataset'])
    assert [len(d) for d in dataset.datasets] == [
        3,  # ADE20K: 3 slots (2 classes present)
        3,  # COCO-Stuff
        3,  # Mapillary
        1,  # PACO-LVIS: 1 annotation
        1,  # PASCAL-Part
        2,
        2,
        2,
        2,  # RefCLEF, RefCOCO, +, g: 2 train refs (random text)
        len([r for r in grefs() if r['split'] == 'train']),
        1,  # LLaVA-Instruct
        1,  # ReasonSeg train: 1 query
    ]
    sampler = DATA_SAMPLERS.build(
        dict(train['sampler'], dataset=dataset, seed=0)
    )
    assert len(list(iter(sampler))) == len(sampler) == len(dataset)
    # a draw is an image with its samples, one VQA conversation
    assert [len(u) for u in sampler.units[0]] == [3]
    assert all(len(u) == 1 for u in sampler.units[-2])
    starts = [0] + dataset.cumulative_sizes[:-1]

    def sample(k):
        return dataset[starts[k]]['data_samples']

    # every source packs a sample in SAM's frame (long side 1024)
    ade, paco, pascal = sample(0), sample(3), sample(4)
    assert max(ade.img_shape) == 1024 and 'task' not in ade
    texts = {dataset[starts[2] + i]['data_samples'].text for i in range(2)}
    assert texts == {'bird', 'lane marking - dashed line'}
    assert paco.text in ('mug handle', 'the handle of the mug')
    assert pascal.text in ('cow head', 'the head of the cow')
    assert int(paco.gt_sem_seg.data.sum()) > 0
    vqa = sample(10)
    assert vqa.task == 'vqa' and len(vqa.gt_instances) == 0
    assert 'gt_sem_seg' not in vqa
    reason = sample(11)
    assert reason.task == 'reason' and reason.is_sentence is True
    assert reason.explanation == 'The mug holds it.'

    val = cfg.val_dataloader.dataset.to_dict()
    _rebase(val, root)
    assert len(DATASETS.build(val)) == 1


def test_check_dataset_on_the_mixture(cfg, tmp_path):
    root = write_release_tree(str(tmp_path))
    train = cfg.train_dataloader.to_dict()
    _rebase(train, root)
    os.remove(
        osp.join(
            root,
            'vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages',
            '2008_000001.jpg',
        )
    )
    # every part is scanned, the label maps too
    os.remove(osp.join(root, 'mapillary/training/v2.0/labels/m.png'))
    problems = find_dataset_problems(train['dataset'])
    # the referring fixtures' own notes (a dropped 2-point polygon...)
    notes = [p for p in problems if 'refer_seg/' in p]
    assert len(notes) == 5
    others = sorted(p for p in problems if p not in notes)
    assert len(others) == 2, others
    assert 'not found' in others[0] and 'm.png' in others[0]
    assert 'image not found' in others[1] and '2008_000001' in others[1]
