"""RefCLEFDataset on a tiny RefCLEF written in the refer toolkit's format.

Layout written under ``tmp_path``::

    instances.json        2 images, 3 annotations (segmentations are lists
                          of RLE dicts, as in refclef.zip)
    refs(unc).p           ref 1 train, ref 2 testAB, ref 3 testC
    refs(berkeley).p      refs 1, 2 train, ref 3 test
    images/saiapr_tc-12/00/images/25.jpg     (20 x 30)
    images/saiapr_tc-12/01/images/1234.jpg   (16 x 24)

Annotations:

- 101 (img 25): one compressed part, rows 2..5 x cols 3..8 (24 px).
- 102 (img 25): two parts, A rows 10..13 x cols 0..4 (compressed, 20 px)
  and B rows 12..15 x cols 3..9 (uncompressed, 28 px), overlapping on rows
  12..13 x cols 3..4 (4 px): union 44 px.
- 201 (img 1234): one compressed part, rows 0..3 x cols 20..23 (16 px).
"""

import os
import os.path as osp

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from refer_fixtures import write_json, write_pickle

from mmgres.datasets import RefCLEFDataset, ReferDataError
from mmgres.datasets.refclef import refer_split_names
from mmgres.registry import DATASETS

IMAGES = {
    25: dict(file_name='00/images/25.jpg', height=20, width=30),
    1234: dict(file_name='01/images/1234.jpg', height=16, width=24),
}
# part B of ann 102 by hand, column-major: 3 empty columns and 12 rows
# (72 zeros), then 7 columns of 4 ones and 16 zeros, the last one followed
# by 4 zeros and 20 empty columns (404 zeros).
PART_B_COUNTS = [72] + [4, 16] * 6 + [4, 404]


def _box_mask(h, w, rows, cols):
    m = np.zeros((h, w), dtype=np.uint8)
    m[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = 1
    return m


def _rle(h, w, rows, cols) -> dict:
    rle = mask_utils.encode(np.asfortranarray(_box_mask(h, w, rows, cols)))
    return dict(size=[h, w], counts=rle['counts'].decode('ascii'))


def _ann(ann_id, image_id, category_id, bbox, segmentation) -> dict:
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=category_id,
        iscrowd=0,
        area=0.0,
        bbox=bbox,
        segmentation=segmentation,
    )


def instances() -> dict:
    anns = [
        _ann(101, 25, 5, [3, 2, 6, 4], [_rle(20, 30, (2, 5), (3, 8))]),
        _ann(
            102,
            25,
            7,
            [0, 10, 10, 6],
            [
                _rle(20, 30, (10, 13), (0, 4)),
                dict(size=[20, 30], counts=PART_B_COUNTS),
            ],
        ),
        _ann(201, 1234, 5, [20, 0, 4, 4], [_rle(16, 24, (0, 3), (20, 23))]),
    ]
    return dict(
        images=[dict(id=i, **info) for i, info in IMAGES.items()],
        annotations=anns,
        categories=[
            dict(id=5, name='man', supercategory='humans'),
            dict(id=7, name='tree', supercategory='landscape-nature'),
        ],
    )


def _sent(sent_id, text):
    return dict(
        sent_id=sent_id,
        raw=text,
        sent=text.lower(),
        tokens=text.lower().split(),
    )


def _ref(ref_id, image_id, ann_id, category_id, split, sentences):
    return dict(
        ref_id=ref_id,
        image_id=image_id,
        ann_id=ann_id,
        category_id=category_id,
        split=split,
        file_name=f'{image_id}_{ref_id}.jpg',
        sent_ids=[s['sent_id'] for s in sentences],
        sentences=sentences,
    )


def refs(splits) -> list:
    return [
        _ref(
            1,
            25,
            101,
            5,
            splits[0],
            [_sent(10, 'Man on the left'), _sent(11, 'guy')],
        ),
        _ref(2, 25, 102, 7, splits[1], [_sent(12, 'Tree bottom left')]),
        _ref(3, 1234, 201, 5, splits[2], [_sent(13, 'person top right')]),
    ]


@pytest.fixture
def root(tmp_path):
    root = str(tmp_path)
    for info in IMAGES.values():
        path = osp.join(root, 'images', 'saiapr_tc-12', info['file_name'])
        os.makedirs(osp.dirname(path), exist_ok=True)
        img = np.full((info['height'], info['width'], 3), 90, np.uint8)
        cv2.imwrite(path, img)
    write_json(osp.join(root, 'instances.json'), instances())
    write_pickle(
        osp.join(root, 'refs(unc).p'), refs(['train', 'testAB', 'testC'])
    )
    write_pickle(
        osp.join(root, 'refs(berkeley).p'), refs(['train', 'train', 'test'])
    )
    return root


def build(root, **kw):
    cfg = dict(
        type='RefCLEFDataset',
        data_root=root,
        data_prefix=dict(img_path='images/saiapr_tc-12/'),
        split='train',
        pipeline=[],
    )
    cfg.update(kw)
    return DATASETS.build(cfg)


def infos(ds):
    return [ds.get_data_info(i) for i in range(len(ds))]


def test_default_split_by_is_unc(root):
    # GSVA data/refer_seg_dataset.py (and LISA's): splitBy = "unc" for
    # every dataset but RefCOCOg, so RefCLEF trains on refs(unc).p
    ds = build(root)
    assert isinstance(ds, RefCLEFDataset)
    assert ds.refs_file == osp.join(root, 'refs(unc).p')
    assert [(i['ref_id'], i['sent_id'], i['text']) for i in infos(ds)] == [
        (1, 10, 'Man on the left'),
        (1, 11, 'guy'),
    ]


def test_test_splits_follow_refer_getrefids(root):
    # refer.py getRefIds: testA/B/C select every split holding the letter
    # ("we also consider testAB, testBC, ..."), 'test' every test split
    assert refer_split_names('testC') == [
        'testC',
        'testAC',
        'testBC',
        'testABC',
    ]

    def ref_ids(split):
        return [i['ref_id'] for i in infos(build(root, split=split))]

    assert ref_ids('testA') == [2]
    assert ref_ids('testB') == [2]
    assert ref_ids('testC') == [3]
    assert ref_ids('test') == [2, 3]
    assert ref_ids(['train', 'testC']) == [1, 1, 3]
    with pytest.raises(ValueError, match=r"the splits present are \['te"):
        build(root, split='val')


def test_berkeley_split(root):
    ds = build(root, split_by='berkeley')
    assert ds.refs_file.endswith('refs(berkeley).p')
    assert [i['ref_id'] for i in infos(ds)] == [1, 1, 2]
    (info,) = infos(build(root, split_by='berkeley', split='test'))
    assert info['ref_id'] == 3
    assert info['img_path'] == osp.join(
        root, 'images', 'saiapr_tc-12', '01/images/1234.jpg'
    )
    assert info['instances'][0]['bbox'] == [20.0, 0.0, 24.0, 4.0]


def test_rle_parts_are_merged(root):
    (info,) = infos(build(root, split='testA'))
    (inst,) = info['instances']
    assert inst['ann_id'] == 102
    assert inst['mask']['size'] == [20, 30]
    assert isinstance(inst['mask']['counts'], str)
    m = mask_utils.decode(inst['mask'])
    expected = _box_mask(20, 30, (10, 13), (0, 4)) | _box_mask(
        20, 30, (12, 15), (3, 9)
    )
    assert m.sum() == 44 and np.array_equal(m, expected)


def test_pipeline_sample_by_hand(root):
    ds = build(
        root,
        split='testB',
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadReferringAnnotations'),
            dict(type='PackReferringInputs'),
        ],
    )
    packed = ds[0]
    sample = packed['data_samples']
    assert sample.text == 'Tree bottom left'
    assert (sample.ref_id, sample.sent_id) == (2, 12)
    assert sample.img_path.endswith('saiapr_tc-12/00/images/25.jpg')
    assert sample.ori_shape == (20, 30)
    assert packed['inputs'].shape == (3, 20, 30)
    assert not sample.no_target
    # bbox [0, 10, 10, 6] (xywh) -> xyxy
    assert sample.gt_instances.bboxes.tensor.tolist() == [
        [0.0, 10.0, 10.0, 16.0]
    ]
    assert sample.gt_instances.labels.tolist() == [0]
    seg = sample.gt_sem_seg.data[0].numpy()
    assert seg.sum() == 44  # 20 + 28 - 4 overlapping pixels, not 48
    assert seg[10, 0] == 1 and seg[15, 9] == 1 and seg[12, 3] == 1
    assert seg[10, 5] == 0 and seg[16, 3] == 0 and seg[11, 9] == 0
    mask = sample.gt_instances.masks.to_ndarray()
    assert mask.shape == (1, 20, 30) and np.array_equal(mask[0], seg)


def test_context_categories(root):
    info = infos(build(root, with_context=True))[0]
    context = {c['ann_id']: c for c in info['context_instances']}
    # categories 5, 7 -> indices 0, 1; ann 101 is the target
    assert {
        k: (c['bbox_label'], c['category']) for k, c in context.items()
    } == {
        101: (0, 0),
        102: (1, 1),
    }
    assert mask_utils.decode(context[102]['mask']).sum() == 44


def test_wrong_split_by(root):
    with pytest.raises(
        ValueError, match=r"split_by must be one of \('unc', 'berkeley'\)"
    ):
        build(root, split_by='umd')


def test_missing_refs_file(root):
    os.remove(osp.join(root, 'refs(berkeley).p'))
    with pytest.raises(FileNotFoundError, match=r'refs\(berkeley\)\.p'):
        build(root, split_by='berkeley')


def test_ref_to_missing_annotation(root):
    bad = refs(['train', 'testAB', 'testC'])
    bad[0]['ann_id'] = 999
    write_pickle(osp.join(root, 'refs(unc).p'), bad)
    with pytest.raises(
        ReferDataError,
        match=r'ref_id=1 refers to ann_id=999, which is not in',
    ):
        build(root)


def _rewrite_ann_102(root, segmentation):
    data = instances()
    data['annotations'][1]['segmentation'] = segmentation
    write_json(osp.join(root, 'instances.json'), data)


def test_bad_rle_part_names_ann_and_part(root):
    _rewrite_ann_102(
        root,
        [_rle(20, 30, (10, 13), (0, 4)), _rle(10, 10, (0, 1), (0, 1))],
    )
    with pytest.raises(
        ReferDataError,
        match=r'ann_id=102: invalid segmentation: RLE part 1: RLE size '
        r'\[10, 10\] does not match the image size \[20, 30\]',
    ):
        build(root, split='testA')
    # scan() lists it and keeps parsing the other refs
    ds = build(root, split=['train', 'testA'], lazy_init=True)
    samples, problems = ds.scan()
    assert [s['ref_id'] for s in samples] == [1, 1]
    assert len(problems) == 1 and 'RLE part 1' in problems[0]


def test_rle_mixed_with_polygon(root):
    _rewrite_ann_102(
        root, [_rle(20, 30, (10, 13), (0, 4)), [0, 0, 4, 0, 4, 4]]
    )
    with pytest.raises(ReferDataError, match='mixes RLE dicts and polygons'):
        build(root, split='testA')
