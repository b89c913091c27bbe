"""RefCOCODataset, RRefCOCODataset and RefZOMDataset (hand counts)."""

import numpy as np
import pytest
from refer_fixtures import dataset_cfg

from mmgres.datasets import RefCOCODataset, RefZOMDataset, RRefCOCODataset
from mmgres.registry import DATASETS


def build(root, kind, **kw):
    return DATASETS.build(dataset_cfg(root, kind, **kw))


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_refcoco(refer_root):
    ds = build(refer_root, 'refcoco')
    assert isinstance(ds, RefCOCODataset)
    assert ds.refs_file.endswith('refs(unc).p')
    got = infos(ds)
    # train: ref 400 (2 sentences) + ref 401 (1)
    assert [(i['ref_id'], i['sent_id']) for i in got] == [
        (400, 4000),
        (400, 4001),
        (401, 4002),
    ]
    assert all(len(i['instances']) == 1 and not i['no_target'] for i in got)
    assert got[2]['instances'][0]['bbox'] == [30.0, 20.0, 40.0, 28.0]
    for split in ('val', 'testA', 'testB'):
        assert len(build(refer_root, 'refcoco', split=split)) == 1
    # ref 404: the uncompressed RLE object 13, bbox xywh [40, 0, 8, 5]
    (info,) = infos(build(refer_root, 'refcoco', split='testB'))
    assert info['instances'][0]['bbox'] == [40.0, 0.0, 48.0, 5.0]
    assert info['instances'][0]['mask']['counts'][:3] == [1280, 5, 27]


def test_rrefcoco_exist(refer_root):
    ds = build(refer_root, 'rrefcoco')
    assert isinstance(ds, RRefCOCODataset)
    got = infos(ds)
    assert [i['exist'] for i in got] == [True, False]
    assert [i['no_target'] for i in got] == [False, True]
    assert [len(i['instances']) for i in got] == [1, 0]
    val = infos(build(refer_root, 'rrefcoco', split='val'))
    # ref 201: two positives; ref 202: one positive, two negatives
    assert [(i['ref_id'], i['exist']) for i in val] == [
        (201, True),
        (201, True),
        (202, True),
        (202, False),
        (202, False),
    ]
    assert sum(i['no_target'] for i in val) == 2


def test_rrefcoco_random_mode_follows_drawn_sentence(refer_root):
    ds = build(refer_root, 'rrefcoco', split='val', text_mode='random')
    assert len(ds) == 2
    np.random.seed(1)
    seen = set()
    for _ in range(30):
        info = ds.get_data_info(1)  # ref 202
        seen.add(info['sent_id'])
        assert info['no_target'] == (not info['exist'])
        assert len(info['instances']) == (1 if info['exist'] else 0)
    assert seen == {2004, 2005, 2006}


def test_refzom(refer_root):
    ds = build(refer_root, 'refzom')
    assert isinstance(ds, RefZOMDataset)
    assert ds.refs_file.endswith('refs(final).p')
    got = infos(ds)
    assert [i['source'] for i in got] == ['one', 'many', 'many', 'zero']
    assert [len(i['instances']) for i in got] == [1, 2, 2, 0]
    assert [i['no_target'] for i in got] == [False, False, False, True]
    test = infos(build(refer_root, 'refzom', split='test'))
    # 303: source 'zero' despite ann_id [17]; 304: ann_id [] and no source;
    # 305: scalar ann_id 17
    assert [i['no_target'] for i in test] == [True, True, False]
    assert [i['source'] for i in test] == ['zero', None, 'one']
    assert [len(i['instances']) for i in test] == [0, 0, 1]


@pytest.mark.parametrize('kind', ['refcoco', 'rrefcoco', 'refzom'])
def test_unknown_split_is_an_error(refer_root, kind):
    with pytest.raises(ValueError, match=r"no ref has split 'testC'"):
        build(refer_root, kind, split='testC')
