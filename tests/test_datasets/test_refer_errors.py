"""Bad input gives a clear error naming the file, ref_id, ann_id, sent_id."""

import copy
import os.path as osp
import re

import pytest
from refer_fixtures import (
    dataset_cfg,
    grefs,
    instances_json,
    refcoco_refs,
    rrefcoco_refs,
    write_all,
    write_json,
    write_pickle,
)

from mmgres.datasets import ReferDataError, ReferFormatError
from mmgres.registry import DATASETS


@pytest.fixture
def root(tmp_path):
    return write_all(str(tmp_path))


def grefs_path(root):
    return osp.join(root, 'grefcoco', 'grefs(unc).json')


def build(root, kind='grefcoco', **kw):
    return DATASETS.build(dataset_cfg(root, kind, **kw))


def test_refs_not_a_list(root):
    write_json(grefs_path(root), dict(refs=grefs()))
    with pytest.raises(
        ReferFormatError, match=re.escape('grefs(unc).json') + '.*list of refs'
    ):
        build(root)


def test_refs_not_json(root):
    with open(grefs_path(root), 'w') as f:
        f.write('[{"ref_id": 1,')
    with pytest.raises(ReferFormatError, match='not a valid json'):
        build(root)


def test_ref_missing_keys(root):
    refs = grefs()
    del refs[2]['sentences']
    write_json(grefs_path(root), refs)
    with pytest.raises(
        ReferFormatError, match=r"ref_id=102 .*lacks the keys \['sentences'\]"
    ):
        build(root)


def test_pickle_refs_not_a_list(root):
    write_pickle(
        osp.join(root, 'refcoco', 'refs(unc).p'),
        {r['ref_id']: r for r in refcoco_refs()},
    )
    with pytest.raises(ReferFormatError, match=r'refs\(unc\)\.p must hold'):
        build(root, 'refcoco')


def test_instances_wrong_type_and_missing_keys(root):
    ann_file = osp.join(root, 'instances.json')
    write_json(ann_file, [1, 2])
    with pytest.raises(ReferFormatError, match='instances.json must be a'):
        build(root)
    data = instances_json()
    del data['annotations']
    write_json(ann_file, data)
    with pytest.raises(ReferFormatError, match='no "annotations" list'):
        build(root)
    data = instances_json()
    del data['images'][1]['height']
    write_json(ann_file, data)
    with pytest.raises(ReferFormatError, match=r"lacks \['height'\]"):
        build(root)


def test_missing_annotation_file(root):
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        build(root, ann_file='nowhere.json')


def test_ref_points_at_missing_annotation(root):
    refs = grefs()
    refs[1]['ann_id'] = [12, 999]
    write_json(grefs_path(root), refs)
    with pytest.raises(
        ReferDataError,
        match=r'ref_id=101 refers to ann_id=999, which is not '
        r'in .*instances.json',
    ):
        build(root)


def test_ref_points_at_missing_image(root):
    refs = grefs()
    refs[0]['image_id'] = 77
    write_json(grefs_path(root), refs)
    with pytest.raises(ReferDataError, match='ref_id=100 has image_id=77'):
        build(root)


def test_ann_of_another_image(root):
    refs = grefs()
    refs[0]['ann_id'] = [16]  # an annotation of image 2
    write_json(grefs_path(root), refs)
    with pytest.raises(ReferDataError, match='ann_id=16 of another image'):
        build(root)


@pytest.mark.parametrize('text', ['', '   ', '\n'])
def test_empty_expression(root, text):
    refs = grefs()
    refs[2]['sentences'][1]['raw'] = text
    write_json(grefs_path(root), refs)
    with pytest.raises(
        ReferDataError, match='ref_id=102, sent_id=1004: empty expression'
    ):
        build(root)


def test_long_expression_is_fine(root):
    refs = grefs()
    long_text = ' '.join(['very'] * 500 + ['long'])
    refs[0]['sentences'][0]['raw'] = long_text
    write_json(grefs_path(root), refs)
    assert build(root).get_data_info(0)['text'] == long_text


@pytest.mark.parametrize('ann_id', [11, [], [-1, 11], ['11']])
def test_grefcoco_ann_id_must_be_a_list(root, ann_id):
    refs = grefs()
    refs[0]['ann_id'] = ann_id
    write_json(grefs_path(root), refs)
    with pytest.raises(ReferDataError, match='ref_id=100.*ann_id'):
        build(root)


def test_refcoco_ann_id_must_be_scalar(root):
    refs = refcoco_refs()
    refs[0]['ann_id'] = [11, 12]
    write_pickle(osp.join(root, 'refcoco', 'refs(unc).p'), refs)
    with pytest.raises(
        ReferDataError, match='ref_id=400.*must be a single int'
    ):
        build(root, 'refcoco')


def test_rrefcoco_needs_exist(root):
    refs = rrefcoco_refs()
    del refs[0]['sentences'][1]['exist']
    write_pickle(osp.join(root, 'rrefcoco', 'refs(unc).p'), refs)
    with pytest.raises(
        ReferDataError, match='ref_id=200, sent_id=2001.*"exist"'
    ):
        build(root, 'rrefcoco')


@pytest.mark.parametrize(
    'segm, message',
    [
        (dict(size=[10, 10], counts='abc'), r'RLE size \[10, 10\]'),
        (dict(counts=[1, 2]), "RLE needs the keys 'counts' and 'size'"),
        (
            dict(size=[32, 48], counts=[5, 5]),
            'uncompressed RLE counts sum to 10',
        ),
        ('not a mask', 'segmentation must be'),
    ],
)
def test_malformed_segmentation(root, segm, message):
    data = instances_json()
    data['annotations'][0]['segmentation'] = segm  # ann 11, ref 100
    write_json(osp.join(root, 'instances.json'), data)
    with pytest.raises(
        ReferDataError, match=r'ann_id=11: invalid segmentation: ' + message
    ):
        build(root)


def test_sentence_without_sent_id(root):
    refs = copy.deepcopy(grefs())
    del refs[0]['sentences'][0]['sent_id']
    write_json(grefs_path(root), refs)
    with pytest.raises(ReferDataError, match='ref_id=100: sentence 0'):
        build(root)
