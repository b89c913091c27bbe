"""GRefCOCODataset on the tiny official-format fixture (hand counts)."""

import os.path as osp

import numpy as np
import pytest
from refer_fixtures import dataset_cfg

from mmgres.datasets import GRefCOCODataset
from mmgres.registry import DATASETS

CONTRACT_KEYS = {
    'img_path',
    'img_id',
    'height',
    'width',
    'text',
    'ref_id',
    'sent_id',
    'no_target',
    'instances',
}


def build(root, **kw):
    return DATASETS.build(dataset_cfg(root, 'grefcoco', **kw))


def test_registered_and_counts(refer_root):
    ds = build(refer_root)
    assert isinstance(ds, GRefCOCODataset)
    # train: refs 100 (2 sentences), 101 (1), 102 (2, no target), 103 (1)
    assert len(ds) == 6
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [i['sent_id'] for i in infos] == [
        1000,
        1001,
        1002,
        1003,
        1004,
        1005,
    ]
    assert sum(i['no_target'] for i in infos) == 2
    assert [len(i['instances']) for i in infos] == [1, 1, 2, 0, 0, 1]
    # val 3 (1 no-target), testA 2, testB 1; a list of splits adds up
    assert len(build(refer_root, split='val')) == 3
    assert len(build(refer_root, split='testA')) == 2
    assert len(build(refer_root, split='testB')) == 1
    assert len(build(refer_root, split=['testA', 'testB'])) == 3


def test_sample_fields(refer_root):
    ds = build(refer_root)
    first = ds.get_data_info(0)
    assert CONTRACT_KEYS <= set(first)
    # image file name from instances.json, not the ref's suffixed one
    assert first['img_path'] == osp.join(
        refer_root, 'grefcoco', '..', 'images', 'img1.png'
    )
    assert osp.isfile(first['img_path'])
    assert (first['img_id'], first['height'], first['width']) == (1, 32, 48)
    assert first['text'] == 'the square on the left'  # 'raw' by default
    assert (first['ref_id'], first['no_target']) == (100, False)
    inst = first['instances'][0]
    assert inst['bbox'] == [2.0, 4.0, 12.0, 14.0]  # xywh [2,4,10,10]
    assert (inst['bbox_label'], inst['ignore_flag'], inst['ann_id']) == (
        0,
        0,
        11,
    )
    # the 2-point polygon [1, 1, 2, 2] is dropped, the square kept
    assert inst['mask'] == [[2, 4, 12, 4, 12, 14, 2, 14]]
    assert ds.get_data_info(1)['text'] == 'Top-left square'

    multi = ds.get_data_info(2)
    assert [i['ann_id'] for i in multi['instances']] == [12, 13]
    assert multi['instances'][0]['bbox'] == [30.0, 20.0, 40.0, 28.0]
    assert isinstance(multi['instances'][0]['mask']['counts'], str)
    assert isinstance(multi['instances'][1]['mask']['counts'], list)

    no_target = ds.get_data_info(3)
    assert no_target['no_target'] is True
    assert no_target['instances'] == []
    # the crowd object 14 of ref 103 is skipped
    assert [i['ann_id'] for i in ds.get_data_info(5)['instances']] == [12]


def test_invalid_object_dropped_and_text_key(refer_root):
    ds = build(refer_root, split='val', text_key='sent')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    # ref 105 = [15 (invalid polygon only), 16]: only 16 is left
    assert [i['ann_id'] for i in infos[1]['instances']] == [16]
    assert [i['no_target'] for i in infos] == [False, False, True]
    ds = build(refer_root, split='testA', text_key='sent')
    assert ds.get_data_info(1)['text'] == 'square in the corner'


def test_lazy_init(refer_root):
    ds = build(refer_root, lazy_init=True)
    assert not ds._fully_initialized
    assert len(ds) == 6  # triggers full_init
    assert ds._fully_initialized
    # lazy init does not even open the files
    lazy = build(refer_root, lazy_init=True, refs_file='missing.json')
    assert not lazy._fully_initialized
    with pytest.raises(FileNotFoundError, match='missing.json'):
        lazy.full_init()


def test_random_text_mode(refer_root):
    ds = build(refer_root, text_mode='random')
    assert len(ds) == 4  # one entry per ref
    np.random.seed(0)
    drawn = {ds.get_data_info(0)['sent_id'] for _ in range(40)}
    assert drawn == {1000, 1001}
    for _ in range(10):
        info = ds.get_data_info(0)
        text = {1000: 'the square on the left', 1001: 'Top-left square'}
        assert info['text'] == text[info['sent_id']]
        assert info['ref_id'] == 100 and info['sample_idx'] == 0
        assert ds.get_data_info(2)['no_target'] is True


def test_refs_file_from_split_by(refer_root, tmp_path):
    ds = build(refer_root, lazy_init=True, split_by='umd')
    assert ds.refs_file.endswith('grefs(umd).json')
    ds = build(refer_root, lazy_init=True, refs_file=str(tmp_path / 'x.json'))
    assert ds.refs_file == str(tmp_path / 'x.json')  # absolute: kept
    with pytest.raises(ValueError, match='text_mode'):
        build(refer_root, text_mode='first')
