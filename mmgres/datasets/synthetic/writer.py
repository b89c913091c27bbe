# Copyright (c) mmgres contributors. All rights reserved.
"""Writers of the official gRefCOCO and classic RefCOCO file formats.

Layout under ``out_dir``::

    grefs(unc).json       gRefCOCO refs: a JSON list, ``ann_id`` a list,
                          ``[-1]`` (and ``category_id == [-1]``,
                          ``no_target == True``) for no target
    instances.json        plain COCO: images, annotations, categories
    images/<file_name>    JPEG (or PNG) images
    refcoco/refs(unc).p   classic RefCOCO refs (pickle), single-target
                          only, scalar ``ann_id`` and ``category_id``
    refcoco/instances.json  COCO subset of the images those refs use
    scenes.json           not part of the official formats: each image's
                          objects (attributes, centre, visibility) and
                          each sentence's grammar rule, for analysis/tests

Segmentations mix the three encodings COCO uses: a polygon list for an
unoccluded object (its vertices decode to exactly the drawn pixels), RLE
with compressed string counts, and RLE with uncompressed list counts.
Occluded objects are always RLE, which represents their visible region
exactly.
"""

import json
import os
import os.path as osp
import pickle
from typing import Dict, List, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .vocab import SHAPES

GREFS_FILE = 'grefs(unc).json'
INSTANCES_FILE = 'instances.json'
REFCOCO_DIR = 'refcoco'
REFCOCO_REFS_FILE = 'refs(unc).p'
SCENES_FILE = 'scenes.json'
IMAGE_DIR = 'images'

#: COCO categories: one per shape.
CATEGORIES: List[Dict] = [
    dict(id=i + 1, name=name, supercategory='shape')
    for i, name in enumerate(SHAPES)
]
CATEGORY_IDS: Dict[str, int] = {c['name']: c['id'] for c in CATEGORIES}


def uncompressed_rle(mask: np.ndarray) -> Dict:
    """COCO RLE with uncompressed (list) counts.

    Counts are run lengths over the column-major (Fortran) flattening,
    starting with a run of zeros (possibly empty).

    Args:
        mask (np.ndarray): Binary mask, shape (H, W).

    Returns:
        dict: ``{'size': [H, W], 'counts': [int, ...]}``.

    Example:
        >>> uncompressed_rle(np.array([[0, 1], [0, 1]]))['counts']
        [2, 2]
    """
    flat = np.asarray(mask, dtype=bool).flatten(order='F')
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return dict(size=list(mask.shape[:2]), counts=[int(c) for c in counts])


def compressed_rle(mask: np.ndarray) -> Dict:
    """COCO RLE with compressed (string) counts, via pycocotools."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(s) for s in rle['size']],
        counts=rle['counts'].decode('ascii'),
    )


def encode_segmentation(
    visible: np.ndarray, polygon: np.ndarray, occluded: bool, style: str
) -> object:
    """Segmentation of one object in the requested COCO encoding.

    Args:
        visible (np.ndarray): Visible mask, shape (H, W), bool.
        polygon (np.ndarray): Vertices, shape (K, 2); used only when
            ``style == 'polygon'`` and the object is unoccluded.
        occluded (bool): Whether part of the object is hidden.
        style (str): ``'polygon'``, ``'rle'`` (compressed) or
            ``'rle_list'`` (uncompressed). An occluded object asked for a
            polygon gets ``'rle'``.
    """
    if style == 'polygon' and not occluded:
        return [[float(v) for v in polygon.reshape(-1)]]
    if style == 'rle_list':
        return uncompressed_rle(visible)
    return compressed_rle(visible)


class BenchmarkWriter:
    """Accumulates images, annotations and refs, then writes every file.

    Args:
        out_dir (str): Output root.
        img_format (str): ``'jpg'`` or ``'png'``.
        jpeg_quality (int): JPEG quality.
    """

    def __init__(
        self, out_dir: str, img_format: str = 'jpg', jpeg_quality: int = 95
    ) -> None:
        if img_format not in ('jpg', 'png'):
            raise ValueError(
                f"img_format must be 'jpg' or 'png', got {img_format!r}"
            )
        self.out_dir = out_dir
        self.img_format = img_format
        self.jpeg_quality = jpeg_quality
        self.images: List[Dict] = []
        self.annotations: List[Dict] = []
        self.refs: List[Dict] = []
        self.scenes: List[Dict] = []
        os.makedirs(osp.join(out_dir, IMAGE_DIR), exist_ok=True)

    def add_image(self, image_id: int, split: str, image: np.ndarray) -> str:
        """Write an RGB image (H, W, 3) uint8; returns its file name."""
        file_name = f'synthetic_{split}_{image_id:06d}.{self.img_format}'
        path = osp.join(self.out_dir, IMAGE_DIR, file_name)
        params = (
            [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
            if self.img_format == 'jpg'
            else [cv2.IMWRITE_PNG_COMPRESSION, 6]
        )
        if not cv2.imwrite(
            path, np.ascontiguousarray(image[..., ::-1]), params
        ):
            raise OSError(f'could not write image {path}')
        h, w = image.shape[:2]
        self.images.append(
            dict(id=image_id, file_name=file_name, height=h, width=w)
        )
        return file_name

    def add_annotation(
        self,
        ann_id: int,
        image_id: int,
        shape: str,
        visible: np.ndarray,
        segmentation: object,
    ) -> None:
        """Add a COCO annotation; bbox (xywh) and area from the mask."""
        rle = mask_utils.encode(np.asfortranarray(visible.astype(np.uint8)))
        self.annotations.append(
            dict(
                id=ann_id,
                image_id=image_id,
                category_id=CATEGORY_IDS[shape],
                segmentation=segmentation,
                area=float(mask_utils.area(rle)),
                bbox=[float(v) for v in mask_utils.toBbox(rle)],
                iscrowd=0,
            )
        )

    def add_ref(
        self,
        ref_id: int,
        image_id: int,
        split: str,
        file_name: str,
        ann_ids: Sequence[int],
        category_ids: Sequence[int],
        sentences: Sequence[Dict],
    ) -> None:
        """Add a gRefCOCO ref; empty ``ann_ids`` means no target."""
        no_target = not ann_ids
        self.refs.append(
            dict(
                sent_ids=[s['sent_id'] for s in sentences],
                file_name=file_name,
                ann_id=[-1] if no_target else list(ann_ids),
                ref_id=ref_id,
                image_id=image_id,
                split=split,
                sentences=list(sentences),
                category_id=[-1] if no_target else list(category_ids),
                no_target=no_target,
            )
        )

    def add_scene(self, record: Dict) -> None:
        self.scenes.append(record)

    def _dump_json(self, obj: object, *parts: str) -> None:
        path = osp.join(self.out_dir, *parts)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(json.dumps(obj))  # dumps uses the C encoder, dump not

    def _coco(self, images: List[Dict], annotations: List[Dict]) -> Dict:
        return dict(
            info=dict(
                description='mmgres synthetic gRefCOCO-format benchmark'
            ),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=CATEGORIES,
        )

    def write(self) -> None:
        """Write the annotation files (images are written as added)."""
        self._dump_json(
            self._coco(self.images, self.annotations), INSTANCES_FILE
        )
        self._dump_json(self.refs, GREFS_FILE)
        singles = [
            dict(
                sent_ids=r['sent_ids'],
                file_name=r['file_name'],
                ann_id=r['ann_id'][0],
                ref_id=r['ref_id'],
                image_id=r['image_id'],
                split=r['split'],
                sentences=r['sentences'],
                category_id=r['category_id'][0],
            )
            for r in self.refs
            if len(r['ann_id']) == 1 and r['ann_id'][0] != -1
        ]
        used = {r['image_id'] for r in singles}
        sub = self._coco(
            [i for i in self.images if i['id'] in used],
            [a for a in self.annotations if a['image_id'] in used],
        )
        self._dump_json(sub, REFCOCO_DIR, INSTANCES_FILE)
        with open(
            osp.join(self.out_dir, REFCOCO_DIR, REFCOCO_REFS_FILE), 'wb'
        ) as f:
            pickle.dump(singles, f, protocol=4)
        self._dump_json(dict(images=self.scenes), SCENES_FILE)
