"""Referring datasets serialize what samples share once, and yield the
same samples as without serialization."""

import pickle

import numpy as np
import pytest
from refer_fixtures import dataset_cfg

from mmgres.datasets.utils.serialization import load_shared, serialize_shared
from mmgres.registry import DATASETS

SPLITS = ['train', 'val', 'testA', 'testB']


def samples(ds):
    out = []
    for i in range(len(ds)):
        np.random.seed(i)  # text_mode='random' draws a sentence
        out.append(ds.get_data_info(i))
    return out


@pytest.mark.parametrize(
    'kind, overrides',
    [
        ('grefcoco', dict(split=SPLITS)),
        ('grefcoco', dict(split=SPLITS, with_context=True)),
        ('grefcoco', dict(split=SPLITS, text_mode='random')),
        ('refcoco', dict(split=SPLITS, with_context=True)),
        ('rrefcoco', dict(split=SPLITS)),
        ('refzom', dict(split=['train', 'test'])),
    ],
)
def test_same_samples_as_unserialized(refer_root, kind, overrides):
    plain = DATASETS.build(
        dataset_cfg(refer_root, kind, serialize_data=False, **overrides)
    )
    shared = DATASETS.build(
        dataset_cfg(refer_root, kind, serialize_data=True, **overrides)
    )
    assert len(shared) == len(plain) > 0
    assert samples(shared) == samples(plain)
    # negative indices as mmengine's get_data_info takes them
    assert shared.get_data_info(-1) == plain.get_data_info(len(plain) - 1)
    # and a subset (mmengine slices the entries, the table stays whole)
    sub = shared.get_subset([len(shared) - 1, 0])
    assert samples(sub)[1] == dict(plain.get_data_info(0), sample_idx=1)


def test_shared_parts_stored_once():
    mask_a = [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0]]
    mask_b = dict(size=[8, 8], counts='abc')
    target = dict(bbox=[0, 0, 4, 4], mask=mask_a, ann_id=1)
    other = dict(bbox=[1, 1, 2, 2], mask=mask_b, ann_id=2)
    targets = [target]
    context = [dict(target, bbox_label=0), dict(other, bbox_label=1)]
    data_list = [
        dict(text='a', instances=targets, context_instances=context),
        dict(text='b', instances=targets, context_instances=context),
        dict(text='c', instances=[], context_instances=[]),
    ]
    (entries, addr), (table, table_addr) = serialize_shared(data_list)
    # the target and context lists, their 3 instance dicts and 2 masks;
    # [] is not shared
    assert len(table_addr) == 7
    assert len(addr) == 3
    # entries hold no polygon: each is smaller than the first mask alone
    plain = [len(pickle.dumps(d, protocol=4)) for d in data_list]
    assert addr[0] < plain[0]
    for i, expected in enumerate(data_list):
        got = load_shared((entries, addr), (table, table_addr), i)
        assert got == expected
    got = load_shared((entries, addr), (table, table_addr), 0)
    # within a sample, a target's mask is one object, as pickle keeps it
    assert got['instances'][0]['mask'] is got['context_instances'][0]['mask']
    # between samples, nothing is shared: a transform may edit a sample
    again = load_shared((entries, addr), (table, table_addr), 1)
    assert again['instances'][0]['mask'] is not got['instances'][0]['mask']
