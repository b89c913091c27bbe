"""Tiny referring datasets written in the official formats, for tests.

Layout written under ``root``::

    images/img1.png (32x48), img2.png (40x30), img3.png (24x24)
    instances.json                      COCO, shared by all datasets
    grefcoco/grefs(unc).json            gRefCOCO (JSON list, ann_id lists)
    refcoco/refs(unc).p                 RefCOCO (pickle, scalar ann_id)
    rrefcoco/refs(unc).p                R-RefCOCO (sentences with exist)
    refzom/refs(final).p                Ref-ZOM (source zero/one/many)

Annotations (ids):

- 11 (img 1): polygon square x 2..12, y 4..14, plus an invalid 2-point
  polygon that must be dropped.
- 12 (img 1): compressed RLE (str counts), rows 20..27 x cols 30..39: 80 px.
- 13 (img 1): uncompressed RLE (list counts), rows 0..4 x cols 40..47: 40 px.
  Column-major counts by hand: 40 empty columns (40 * 32 = 1280 zeros),
  then 8 columns of 5 ones and 27 zeros.
- 14 (img 1): iscrowd=1 (uncompressed RLE) -- skipped.
- 15 (img 2): only an invalid polygon -- the object is dropped.
- 16 (img 2): polygon x 5..20, y 5..30.
- 17 (img 3): polygon x 0..10, y 0..10.
"""

import json
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pycocotools.mask as mask_utils

IMAGES = {
    1: dict(file_name='img1.png', height=32, width=48),
    2: dict(file_name='img2.png', height=40, width=30),
    3: dict(file_name='img3.png', height=24, width=24),
}
RLE13_COUNTS = [1280] + [5, 27] * 8
CROWD14_COUNTS = [28, 4] * 4 + [32 * 44]


def _rle12_counts() -> str:
    m = np.zeros((32, 48), dtype=np.uint8)
    m[20:28, 30:40] = 1
    return mask_utils.encode(np.asfortranarray(m))['counts'].decode('ascii')


def image_array(img_id: int) -> np.ndarray:
    """The BGR image written for ``img_id``: a horizontal ramp in blue, a
    vertical one in green, so that flips are visible."""
    info = IMAGES[img_id]
    h, w = info['height'], info['width']
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = np.linspace(0, 250, w, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 250, h, dtype=np.uint8)[:, None]
    img[..., 2] = 40 * img_id
    return img


def instances_json() -> dict:
    anns = [
        dict(
            id=11,
            image_id=1,
            category_id=1,
            iscrowd=0,
            area=100.0,
            bbox=[2, 4, 10, 10],
            segmentation=[[2, 4, 12, 4, 12, 14, 2, 14], [1, 1, 2, 2]],
        ),
        dict(
            id=12,
            image_id=1,
            category_id=1,
            iscrowd=0,
            area=80.0,
            bbox=[30, 20, 10, 8],
            segmentation=dict(size=[32, 48], counts=_rle12_counts()),
        ),
        dict(
            id=13,
            image_id=1,
            category_id=1,
            iscrowd=0,
            area=40.0,
            bbox=[40, 0, 8, 5],
            segmentation=dict(size=[32, 48], counts=RLE13_COUNTS),
        ),
        dict(
            id=14,
            image_id=1,
            category_id=1,
            iscrowd=1,
            area=16.0,
            bbox=[0, 28, 4, 4],
            segmentation=dict(size=[32, 48], counts=CROWD14_COUNTS),
        ),
        dict(
            id=15,
            image_id=2,
            category_id=1,
            iscrowd=0,
            area=4.0,
            bbox=[1, 2, 2, 2],
            segmentation=[[1, 2, 3, 4]],
        ),
        dict(
            id=16,
            image_id=2,
            category_id=1,
            iscrowd=0,
            area=375.0,
            bbox=[5, 5, 15, 25],
            segmentation=[[5, 5, 20, 5, 20, 30, 5, 30]],
        ),
        dict(
            id=17,
            image_id=3,
            category_id=1,
            iscrowd=0,
            area=100.0,
            bbox=[0, 0, 10, 10],
            segmentation=[[0, 0, 10, 0, 10, 10, 0, 10]],
        ),
    ]
    images = [dict(id=i, **info) for i, info in IMAGES.items()]
    return dict(
        images=images,
        annotations=anns,
        categories=[dict(id=1, name='object', supercategory='object')],
    )


def _sent(sent_id: int, text: str, **extra) -> dict:
    return dict(
        sent_id=sent_id,
        raw=text,
        sent=text.lower(),
        tokens=text.lower().split(),
        **extra,
    )


def _ref(ref_id, image_id, split, ann_id, sentences, **extra) -> dict:
    return dict(
        ref_id=ref_id,
        image_id=image_id,
        split=split,
        # the official refs carry an ann-id suffix in file_name; the real
        # file name comes from instances.json
        file_name=f'COCO_train2014_{image_id:012d}_{ref_id}.jpg',
        ann_id=ann_id,
        sentences=sentences,
        sent_ids=[s['sent_id'] for s in sentences],
        **extra,
    )


def grefs() -> list:
    """gRefCOCO refs. train: 6 sentences (2 no-target, 1 multi-target),
    val: 3 (1 no-target), testA: 2, testB: 1."""
    return [
        _ref(
            100,
            1,
            'train',
            [11],
            [
                _sent(1000, 'the square on the left'),
                _sent(1001, 'Top-left square'),
            ],
            category_id=[1],
            no_target=False,
        ),
        _ref(
            101,
            1,
            'train',
            [12, 13],
            [_sent(1002, 'both blocks on the right')],
            category_id=[1, 1],
            no_target=False,
        ),
        _ref(
            102,
            1,
            'train',
            [-1],
            [
                _sent(1003, 'the green cat'),
                _sent(1004, 'a dog under the table'),
            ],
            category_id=[-1],
            no_target=True,
        ),
        # 14 is a crowd object: only 12 is kept
        _ref(
            103,
            1,
            'train',
            [12, 14],
            [_sent(1005, 'the middle block')],
            category_id=[1, 1],
            no_target=False,
        ),
        _ref(
            104,
            2,
            'val',
            [16],
            [_sent(1006, 'the tall box')],
            category_id=[1],
            no_target=False,
        ),
        # 15 has only an invalid polygon: only 16 is kept
        _ref(
            105,
            2,
            'val',
            [15, 16],
            [_sent(1007, 'everything')],
            category_id=[1, 1],
            no_target=False,
        ),
        _ref(
            106,
            3,
            'val',
            [-1],
            [_sent(1008, 'a red car')],
            category_id=[-1],
            no_target=True,
        ),
        _ref(
            107,
            3,
            'testA',
            [17],
            [_sent(1009, 'the square'), _sent(1010, 'square in the corner')],
            category_id=[1],
            no_target=False,
        ),
        _ref(
            108,
            2,
            'testB',
            [16],
            [_sent(1011, 'the box')],
            category_id=[1],
            no_target=False,
        ),
    ]


def refcoco_refs() -> list:
    """RefCOCO refs (scalar ann_id). train: 3 sentences, val/testA/testB:
    1 each."""
    return [
        _ref(
            400,
            1,
            'train',
            11,
            [
                _sent(4000, 'left square'),
                _sent(4001, 'the square at the left'),
            ],
            category_id=1,
        ),
        _ref(
            401, 1, 'train', 12, [_sent(4002, 'middle block')], category_id=1
        ),
        _ref(402, 2, 'val', 16, [_sent(4003, 'the box')], category_id=1),
        _ref(403, 3, 'testA', 17, [_sent(4004, 'square')], category_id=1),
        _ref(
            404,
            1,
            'testB',
            13,
            [_sent(4005, 'top right block')],
            category_id=1,
        ),
    ]


def rrefcoco_refs() -> list:
    """R-RefCOCO refs. train: 2 sentences (1 negative); val: 5 (2
    negatives; ref 201 has none)."""
    return [
        _ref(
            200,
            1,
            'train',
            11,
            [
                _sent(2000, 'the square on the left', exist=True),
                _sent(2001, 'the blue circle', exist=False),
            ],
            category_id=1,
        ),
        _ref(
            201,
            2,
            'val',
            16,
            [
                _sent(2002, 'the box', exist=True),
                _sent(2003, 'tall box', exist=True),
            ],
            category_id=1,
        ),
        _ref(
            202,
            3,
            'val',
            17,
            [
                _sent(2004, 'the square', exist=True),
                _sent(2005, 'the purple square', exist=False),
                _sent(2006, 'the round square', exist=False),
            ],
            category_id=1,
        ),
    ]


def refzom_refs() -> list:
    """Ref-ZOM refs. train: 4 sentences (1 no-target, 2 multi-target);
    test: 3 (2 no-target: source 'zero' with an ann_id, and an empty
    ann_id without source)."""
    return [
        _ref(300, 1, 'train', [11], [_sent(3000, 'the square')], source='one'),
        _ref(
            301,
            1,
            'train',
            [12, 13],
            [
                _sent(3001, 'the blocks on the right'),
                _sent(3002, 'two blocks'),
            ],
            source='many',
        ),
        _ref(302, 2, 'train', [], [_sent(3003, 'a cat')], source='zero'),
        _ref(303, 3, 'test', [17], [_sent(3004, 'a bird')], source='zero'),
        _ref(304, 2, 'test', [], [_sent(3005, 'a plane')]),
        _ref(305, 3, 'test', 17, [_sent(3006, 'the square')], source='one'),
    ]


def write_json(path: str, obj) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)
    return path


def write_pickle(path: str, obj) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        pickle.dump(obj, f)
    return path


def write_all(root: str) -> str:
    """Write every fixture dataset under ``root``; return ``root``."""
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    for img_id, info in IMAGES.items():
        cv2.imwrite(
            osp.join(root, 'images', info['file_name']), image_array(img_id)
        )
    instances = instances_json()
    write_json(osp.join(root, 'instances.json'), instances)
    write_json(osp.join(root, 'grefcoco', 'grefs(unc).json'), grefs())
    write_pickle(osp.join(root, 'refcoco', 'refs(unc).p'), refcoco_refs())
    write_pickle(osp.join(root, 'rrefcoco', 'refs(unc).p'), rrefcoco_refs())
    write_pickle(osp.join(root, 'refzom', 'refs(final).p'), refzom_refs())
    return root


def dataset_cfg(root: str, kind: str, **overrides) -> dict:
    """A dataset config for the fixture dataset ``kind``."""
    types = dict(
        grefcoco='GRefCOCODataset',
        refcoco='RefCOCODataset',
        rrefcoco='RRefCOCODataset',
        refzom='RefZOMDataset',
    )
    cfg = dict(
        type=types[kind],
        data_root=osp.join(root, kind),
        ann_file='../instances.json',
        data_prefix=dict(img_path='../images/'),
        split='train',
        pipeline=[],
    )
    cfg.update(overrides)
    return cfg
