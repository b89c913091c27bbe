# Copyright (c) mmgres contributors. All rights reserved.
"""LlavaInstructDataset on a tiny ``llava_instruct_150k.json``.

The conversation handling is the GSVA release's ``data/vqa_dataset.py``
(``preprocess_multimodal``, the skipped first non-human turn, the
alternating-roles assertion); a VQA sample has no mask ground truth
(the mixture interface: empty ``gt_instances``, no ``gt_sem_seg``).
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mmgres.datasets import LlavaInstructDataset, ReferDataError
from mmgres.datasets.llava_instruct import preprocess_conversation
from mmgres.datasets.utils import find_dataset_problems

ANN = 'llava_dataset/llava_instruct_150k.json'
# the GSVA configs' train pipeline (SAM frame: long side to 16 here)
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=(16, 16), keep_ratio=True),
    dict(type='PackReferringInputs'),
]


def human(value):
    return {'from': 'human', 'value': value}


def gpt(value):
    return {'from': 'gpt', 'value': value}


RECORDS = [
    dict(
        id='000000000001',
        image='000000000001.jpg',
        conversations=[
            human('<image>\nWhat color is the bus?'),
            gpt('Red.'),
            human('Is it moving?'),
            gpt('No.'),
        ],
    ),
    dict(
        id='000000000002',
        image='000000000002.jpg',
        conversations=[
            gpt('A leading answer, skipped.'),
            human('  Describe it. <image> '),
            gpt('A cat.'),
        ],
    ),
]


def write(root, records):
    path = os.path.join(root, ANN)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(records, f)


@pytest.fixture
def root(tmp_path):
    root = str(tmp_path)
    write(root, RECORDS)
    folder = os.path.join(root, 'coco', 'train2017')
    os.makedirs(folder)
    for name, hw in (('000000000001', (6, 8)), ('000000000002', (8, 4))):
        img = np.full((*hw, 3), 50, dtype=np.uint8)
        Image.fromarray(img).save(os.path.join(folder, name + '.jpg'))
    return root


def test_one_sample_per_record(root):
    ds = LlavaInstructDataset(data_root=root)
    assert len(ds) == 2
    a, b = ds.get_data_info(0), ds.get_data_info(1)
    assert a['img_path'] == os.path.join(
        root, 'coco', 'train2017', '000000000001.jpg'
    )
    assert a['img_id'] == '000000000001'
    assert a['task'] == 'vqa' and a['no_target'] is False
    assert 'instances' not in a
    assert a['conversations'] == RECORDS[0]['conversations']
    assert a['text'] == 'What color is the bus?'
    # the leading gpt turn skipped; <image> moved to the front of its turn
    assert b['conversations'] == [
        human('<image>\nDescribe it.'),
        gpt('A cat.'),
    ]
    assert b['text'] == 'Describe it.'


def test_preprocess_multimodal():
    turns = [human('Look <image> here <image>'), gpt('ok')]
    out = preprocess_conversation(turns, 'r')
    # every <image> removed, then one put in front (release)
    assert out[0]['value'] == '<image>\nLook  here'
    assert turns[0]['value'] == 'Look <image> here <image>'  # unchanged
    # a turn that is only the token: "<image>\n" stripped to "<image>"
    only = preprocess_conversation([human('<image>'), gpt('a')], 'r')
    assert only[0]['value'] == '<image>'


def test_vqa_sample_through_the_gsva_pipeline(root):
    ds = LlavaInstructDataset(data_root=root, pipeline=PIPELINE)
    packed = ds[0]
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 12, 16)  # 6 x 8 -> long side 16
    assert sample.task == 'vqa'
    assert sample.conversations == RECORDS[0]['conversations']
    assert sample.text == 'What color is the bus?'
    assert sample.no_target is False
    gt = sample.gt_instances
    assert len(gt) == 0
    assert gt.masks.masks.shape == (0, 12, 16)
    assert tuple(gt.bboxes.tensor.shape) == (0, 4)
    assert 'gt_sem_seg' not in sample


@pytest.mark.parametrize(
    'record, match',
    [
        (
            dict(image='a.jpg'),
            r"record 0 \(id=\?\) has no \['conversations'\]",
        ),
        (
            dict(id='x', conversations=[human('q')]),
            r"record 0 \(id=x\) has no \['image'\]",
        ),
        (
            dict(image='a.jpg', conversations=[human('q'), human('q')]),
            'do not alternate.*turn 1',
        ),
        (
            dict(image='a.jpg', conversations=[human('q'), {'from': 'bot'}]),
            'turn 1 is not',
        ),
        (
            dict(
                image='a.jpg',
                conversations=[human('q'), {'from': 'bot', 'value': 'a'}],
            ),
            "turn 1 is from 'bot'",
        ),
        (dict(image='a.jpg', conversations=[gpt('a')]), 'no turn from'),
        (
            dict(
                image='a.jpg', conversations=[human('q'), gpt('a'), human('q')]
            ),
            'last question has no answer',
        ),
    ],
)
def test_record_errors(tmp_path, record, match):
    write(str(tmp_path), [record])
    with pytest.raises(ReferDataError, match=match):
        LlavaInstructDataset(data_root=str(tmp_path))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='llava_instruct_150k.json'):
        LlavaInstructDataset(data_root=str(tmp_path))


def test_not_a_list(tmp_path):
    write(str(tmp_path), dict(records=RECORDS))
    with pytest.raises(ReferDataError, match='JSON list'):
        LlavaInstructDataset(data_root=str(tmp_path))


def test_check_dataset(root):
    write(root, RECORDS + [dict(id='bad', image='x.jpg')])
    os.remove(os.path.join(root, 'coco', 'train2017', '000000000002.jpg'))
    cfg = dict(type='LlavaInstructDataset', data_root=root)
    problems = find_dataset_problems(cfg)
    # the size of image 1 is not in the file: only its decoding is checked
    assert len(problems) == 2
    assert 'id=bad' in problems[0]
    assert 'image not found' in problems[1] and '000000000002' in problems[1]
