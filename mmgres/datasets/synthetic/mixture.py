# Copyright (c) mmgres contributors. All rights reserved.
"""Tiny sets of GSVA's pre-training mixture, made from the synthetic scenes.

GSVA pre-trains on semantic segmentation (ADE20K, COCO-Stuff, PACO-LVIS,
PASCAL-Part), referring segmentation, VQA (LLaVA-Instruct-150k) and
reasoning segmentation (ReasonSeg). None of them can be downloaded here, so
the tiny two-stage configs and their tests read these stand-ins: the
synthetic benchmark's training images and objects, written in each
dataset's official layout and format, with the benchmark's words, so that
the tiny word-level tokenizers know them::

    from mmgres.datasets.synthetic import write_synthetic_mixture
    write_synthetic_mixture('data/synthetic_grefcoco',
                            'data/synthetic_mixture')

or ``python tools/dataset_converters/generate_synthetic_mixture.py``.

Layout under ``out_dir`` (the GSVA release's, with mmseg's for the two
label-map datasets)::

    ade20k/images/training/*.jpg, ade20k/annotations/training/*.png
        label 0 = unlabelled, 1 + index of the shape (reduce_zero_label)
    cocostuff/images/train2017/*.jpg,
    cocostuff/annotations/train2017/*_labelTrainIds.png
        label = index of the colour, 255 = unlabelled
    coco/train2017/*.jpg                  (PACO-LVIS and LLaVA images)
    vlpart/paco/annotations/paco_lvis_v1_train.json
        categories "shape" and "shape:top" / "shape:bottom"
    vlpart/pascal_part/train.json, vlpart/pascal_part/VOCdevkit/VOC2010/
        JPEGImages/*.jpg; categories "shape:left" / "shape:right"
    llava_dataset/llava_instruct_150k.json
    reason_seg/ReasonSeg/train/*.jpg + *.json (LISA's polygon JSON)

The classes of the label-map sets are the benchmark's shapes
(:data:`SHAPE_CLASSES`) and colours (:data:`COLOUR_CLASSES`): configs
give them to mmseg's ``BaseSegDataset`` as ``metainfo``.
"""

import json
import os
import os.path as osp
import shutil
from typing import Dict, List

import cv2
import numpy as np

from ..utils.segmentation import decode_segmentation
from .vocab import COLOURS, SHAPES
from .writer import compressed_rle

#: The classes of the ADE20K-format stand-in (label = 1 + index).
SHAPE_CLASSES = tuple(SHAPES)
#: The classes of the COCO-Stuff-format stand-in (label = index).
COLOUR_CLASSES = tuple(COLOURS)


def _masks(coco: Dict) -> Dict[int, List[dict]]:
    """Each image's annotations with their decoded masks."""
    images = {im['id']: im for im in coco['images']}
    out: Dict[int, List[dict]] = {i: [] for i in images}
    for ann in coco['annotations']:
        im = images[ann['image_id']]
        mask = decode_segmentation(
            ann['segmentation'], im['height'], im['width']
        ).astype(bool)
        out[im['id']].append(dict(ann=ann, mask=mask))
    return out


def _polygon(mask: np.ndarray) -> List[List[float]]:
    """The outer contour of the mask's largest part, as LISA's points."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    contour = max(contours, key=cv2.contourArea)[:, 0]
    return [[float(x), float(y)] for x, y in contour]


def _halves(mask: np.ndarray, axis: int):
    """The two halves of a mask split at its box's middle along ``axis``
    (0: top / bottom, 1: left / right)."""
    idx = np.nonzero(mask.any(axis=1 - axis))[0]
    mid = (idx[0] + idx[-1] + 1) // 2
    first, second = mask.copy(), mask.copy()
    if axis == 0:
        first[mid:], second[:mid] = False, False
    else:
        first[:, mid:], second[:, :mid] = False, False
    return first, second


def _coco_json(images, annotations, categories) -> dict:
    return dict(
        info={}, licenses=[], images=images, annotations=annotations,
        categories=categories,
    )  # fmt: skip


def _ann(ann_id, image_id, cat_id, mask) -> dict:
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
    return dict(
        id=ann_id, image_id=image_id, category_id=cat_id,
        segmentation=compressed_rle(mask), area=int(mask.sum()),
        bbox=[x0, y0, w, h], iscrowd=0,
    )  # fmt: skip


def write_synthetic_mixture(
    src_dir: str, out_dir: str, num_images: int = 16
) -> Dict[str, int]:
    """Write the tiny mixture sets from a synthetic benchmark.

    Args:
        src_dir (str): A synthetic benchmark
            (:func:`generate_synthetic_grefcoco`'s output).
        out_dir (str): Where to write the sets.
        num_images (int): Training images of the benchmark to use (the
            first ones). Defaults to 16.

    Returns:
        dict: Samples (images, annotations or records) of each set.
    """
    with open(osp.join(src_dir, 'instances.json')) as f:
        coco = json.load(f)
    with open(osp.join(src_dir, 'scenes.json')) as f:
        scenes = {s['image_id']: s for s in json.load(f)['images']}
    train = [s for s in scenes.values() if s['split'] == 'train']
    train = sorted(train, key=lambda s: s['image_id'])[:num_images]
    if not train:
        raise ValueError(f'{src_dir} has no training image.')
    masks = _masks(coco)
    infos = {im['id']: im for im in coco['images']}
    cats = {c['id']: c['name'] for c in coco['categories']}

    def path(*parts):
        p = osp.join(out_dir, *parts)
        os.makedirs(osp.dirname(p), exist_ok=True)
        return p

    def copy_image(scene, *parts):
        shutil.copyfile(
            osp.join(src_dir, 'images', scene['file_name']), path(*parts)
        )

    counts = dict.fromkeys(
        ('ade20k', 'cocostuff', 'paco_lvis', 'pascal_part', 'llava',
         'reason_seg'), 0,
    )  # fmt: skip
    paco_imgs, paco_anns, pascal_imgs, pascal_anns, llava = [], [], [], [], []
    for scene in train:
        iid, name = scene['image_id'], scene['file_name']
        stem = osp.splitext(name)[0]
        info = infos[iid]
        h, w = info['height'], info['width']
        objs = {o['ann_id']: o for o in scene['objects']}
        items = [m for m in masks[iid] if m['mask'].any()]
        # ADE20K format: 0 unlabelled, 1 + shape index; later objects on top
        # (the annotations' masks are the visible parts)
        shape_map = np.zeros((h, w), np.uint8)
        colour_map = np.full((h, w), 255, np.uint8)
        for m in items:
            obj = objs[m['ann']['id']]
            shape_map[m['mask']] = 1 + SHAPE_CLASSES.index(obj['shape'])
            colour_map[m['mask']] = COLOUR_CLASSES.index(obj['colour'])
        copy_image(scene, 'ade20k', 'images', 'training', name)
        cv2.imwrite(
            path('ade20k', 'annotations', 'training', f'{stem}.png'),
            shape_map,
        )
        copy_image(scene, 'cocostuff', 'images', 'train2017', name)
        cv2.imwrite(
            path(
                'cocostuff', 'annotations', 'train2017',
                f'{stem}_labelTrainIds.png',
            ),
            colour_map,
        )  # fmt: skip
        counts['ade20k'] += 1
        counts['cocostuff'] += 1
        # PACO-LVIS (COCO images) and PASCAL-Part (VOC layout): parts
        copy_image(scene, 'coco', 'train2017', name)
        copy_image(
            scene, 'vlpart', 'pascal_part', 'VOCdevkit', 'VOC2010',
            'JPEGImages', name,
        )  # fmt: skip
        paco_imgs.append(
            dict(id=iid, file_name=f'train2017/{name}', height=h, width=w)
        )
        pascal_imgs.append(dict(id=iid, file_name=name, height=h, width=w))
        for m in items:
            shape = cats[m['ann']['category_id']]
            k = SHAPE_CLASSES.index(shape)
            top, bottom = _halves(m['mask'], 0)
            left, right = _halves(m['mask'], 1)
            # PACO-LVIS ids: 3k+1 the object, 3k+2 its top, 3k+3 its bottom
            for j, part in enumerate((m['mask'], top, bottom)):
                if part.any():
                    paco_anns.append(
                        _ann(len(paco_anns) + 1, iid, 3 * k + 1 + j, part)
                    )
            for j, part in enumerate((left, right)):
                if part.any():
                    pascal_anns.append(
                        _ann(len(pascal_anns) + 1, iid, 2 * k + 1 + j, part)
                    )
        # LLaVA-Instruct-150k: two rounds about the scene's objects
        described = [objs[m['ann']['id']] for m in items]
        named = [f'the {o["colour"]} {o["shape"]}' for o in described]
        biggest = max(items, key=lambda m: m['mask'].sum())
        big = objs[biggest['ann']['id']]
        llava.append(
            dict(
                id=stem,
                image=name,
                conversations=[
                    dict(
                        value='what are the objects in this image?\n<image>',
                        **{'from': 'human'},
                    ),
                    dict(value=' and '.join(named), **{'from': 'gpt'}),
                    dict(
                        value='what is the biggest shape?',
                        **{'from': 'human'},
                    ),
                    dict(
                        value=f'the {big["colour"]} {big["shape"]}',
                        **{'from': 'gpt'},
                    ),
                ],
            )
        )
        # ReasonSeg: the biggest shape, as a sentence query
        copy_image(scene, 'reason_seg', 'ReasonSeg', 'train', name)
        record = dict(
            text=['the biggest shape of all the shapes in this image'],
            is_sentence=True,
            shapes=[
                dict(
                    label='target', labels=['target'], group_id=None,
                    shape_type='polygon', image_name=name,
                    points=_polygon(biggest['mask']),
                ),
            ],
        )  # fmt: skip
        with open(
            path('reason_seg', 'ReasonSeg', 'train', f'{stem}.json'), 'w'
        ) as f:
            json.dump(record, f)
        counts['reason_seg'] += 1
    paco_cats = []
    for k, shape in enumerate(SHAPE_CLASSES):
        # PACO-LVIS names carry LVIS' sense suffix, e.g. 'bottle_(drink)'
        obj = f'{shape}_(shape)'
        paco_cats += [
            dict(id=3 * k + 1, name=obj),
            dict(id=3 * k + 2, name=f'{obj}:top'),
            dict(id=3 * k + 3, name=f'{obj}:bottom'),
        ]
    pascal_cats = []
    for k, shape in enumerate(SHAPE_CLASSES):
        pascal_cats += [
            dict(id=2 * k + 1, name=f'{shape}:left'),
            dict(id=2 * k + 2, name=f'{shape}:right'),
        ]
    with open(
        path('vlpart', 'paco', 'annotations', 'paco_lvis_v1_train.json'), 'w'
    ) as f:
        json.dump(_coco_json(paco_imgs, paco_anns, paco_cats), f)
    with open(path('vlpart', 'pascal_part', 'train.json'), 'w') as f:
        json.dump(_coco_json(pascal_imgs, pascal_anns, pascal_cats), f)
    with open(path('llava_dataset', 'llava_instruct_150k.json'), 'w') as f:
        json.dump(llava, f)
    counts['paco_lvis'] = len(paco_anns)
    counts['pascal_part'] = len(pascal_anns)
    counts['llava'] = len(llava)
    return counts
