# Copyright (c) mmgres contributors. All rights reserved.
"""ReasonSeg (LISA, Lai et al. 2024), in its release format.

A split is a folder of images ``<name>.jpg``, each with ``<name>.json``::

    {"text": [query, ...],          # one or more (rephrased) queries
     "is_sentence": bool,           # long sentence or short phrase
     "shapes": [{"label": "target" | "ignore" | "flag" | ...,
                 "shape_type": "polygon",
                 "points": [[x, y], ...]}, ...]}

The ground truth is made as LISA's ``utils/data_processing.py``
(``get_mask_from_json``) makes it, which GSVA copies: shapes labelled
``flag`` are skipped; the others are drawn largest first (area of the
filled polygon) with ``cv2.polylines`` (1 px outline) and ``cv2.fillPoly``
on integer-truncated points, as 255 when the label contains ``ignore`` and
as 1 otherwise, so a smaller shape drawn later overwrites a larger one.
The target is the pixels left at 1: LISA trains on ``mask == 1`` (ignored
pixels are background) and its evaluation skips the 255 pixels.
"""

import io
import json
import os.path as osp
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from mmengine.dataset import BaseDataset
from mmengine.fileio import exists, get, join_path, list_dir_or_file
from mmengine.logging import MMLogger
from PIL import Image

from mmgres.registry import DATASETS

from .refer_base import ReferDataError

Report = Callable[[str], None]

#: PIL's EXIF orientations that turn the image by 90 degrees; OpenCV's
#: decoder (mmcv's ``LoadImageFromFile``, LISA's ``cv2.imread``) applies
#: them, so the image's height and width swap.
_TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)
_EXIF_ORIENTATION = 0x0112


def _read_json(path: str, backend_args: Optional[dict]) -> dict:
    """The annotation, as LISA reads it (UTF-8, else cp1252)."""
    if not exists(path, backend_args=backend_args):
        raise FileNotFoundError(f'{path}: annotation file not found')
    raw = get(path, backend_args=backend_args)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        text = raw.decode('cp1252')
    try:
        anno = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReferDataError(f'{path}: not valid JSON: {e}') from e
    if not isinstance(anno, dict):
        raise ReferDataError(f'{path}: expected a JSON object')
    return anno


def _image_size(path: str, backend_args: Optional[dict]) -> Tuple[int, int]:
    """(height, width) of the image as OpenCV decodes it (EXIF applied),
    from the header only."""
    with Image.open(io.BytesIO(get(path, backend_args=backend_args))) as im:
        width, height = im.size
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    if orientation in _TRANSPOSED_ORIENTATIONS:
        height, width = width, height
    return int(height), int(width)


def _queries(anno: dict, where: str) -> List[str]:
    texts = anno.get('text')
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise ReferDataError(f'{where}: "text" must be a non-empty list')
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ReferDataError(f'{where}: "text"[{i}] is empty: {text!r}')
    return [text.strip() for text in texts]


def _shapes(anno: dict, where: str) -> List[Tuple[np.ndarray, bool]]:
    """The drawn shapes: (points as LISA's int32 (1, K, 2), is_ignore)."""
    shapes = anno.get('shapes')
    if not isinstance(shapes, list):
        raise ReferDataError(f'{where}: "shapes" must be a list')
    out = []
    for i, shape in enumerate(shapes):
        if not isinstance(shape, dict) or 'points' not in shape:
            raise ReferDataError(f'{where}: shape {i} has no "points"')
        label = str(shape.get('label', ''))
        if label.lower() == 'flag':  # LISA: deprecated annotations
            continue
        kind = shape.get('shape_type', 'polygon')
        if kind != 'polygon':
            raise ReferDataError(
                f'{where}: shape {i} ({label!r}) is a {kind!r}; only '
                'polygons are supported'
            )
        points = np.asarray(shape['points'], dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise ReferDataError(
                f'{where}: shape {i} ({label!r}) needs at least 3 [x, y] '
                'points'
            )
        out.append((points[None].astype(np.int32), 'ignore' in label.lower()))
    return out


def lisa_mask(
    shapes: List[Tuple[np.ndarray, bool]], height: int, width: int
) -> np.ndarray:
    """LISA's ``get_mask_from_json`` mask: uint8 (H, W), 1 target, 255
    ignored, 0 background (see the module docstring)."""
    areas = []
    for points, _ in shapes:
        tmp = np.zeros((height, width), dtype=np.uint8)
        cv2.polylines(tmp, points, True, 1, 1)
        cv2.fillPoly(tmp, points, 1)
        areas.append(tmp.sum())
    mask = np.zeros((height, width), dtype=np.uint8)
    for idx in np.argsort(areas)[::-1]:
        points, ignore = shapes[idx]
        value = 255 if ignore else 1
        cv2.polylines(mask, points, True, value, 1)
        cv2.fillPoly(mask, points, value)
    return mask


@DATASETS.register_module()
class ReasonSegDataset(BaseDataset):
    """ReasonSeg: one referring sample per query of each image.

    Samples are in the format of :class:`BaseReferDataset`, for the same
    pipelines (``LoadImageFromFile``, ``LoadReferringAnnotations``,
    ``PackReferringInputs``)::

        dict(img_path, img_id=<name>, height, width, text, sent_id=<index
             of the query>, is_sentence, task='reason', explanation,
             no_target=False,
             instances=[dict(bbox, bbox_label=0, ignore_flag=0,
                             mask=<RLE of LISA's mask == 1>, ann_id=0)])

    Every query of an image becomes a sample (as the other referring
    datasets give one per sentence). LISA and GSVA train on up to 3 queries
    of a randomly drawn image per step and validate on the first query
    only. ``explanation`` is the ``outputs`` of the image's entry in
    ``explanatory/train.json`` under ``data_root`` (the release's
    ``img_to_explanation``, keyed by the image's file name), or None when
    the file is absent or has no entry for the image; the release reads
    that file for every split. Images are the ``*.jpg`` files of the split
    folder, in sorted order; the mask needs the image size, read from each
    image's header at load time.

    Args:
        split (str): The split folder under ``data_root``: ``'train'``,
            ``'val'`` or ``'test'``. Defaults to ``'train'``.
        backend_args (dict, optional): mmengine file backend arguments.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``lazy_init``...).
    """

    METAINFO = dict(classes=('object',), palette=[(220, 20, 60)])
    #: the explanatory answers, relative to ``data_root`` (the release's)
    EXPLANATORY_FILE = 'explanatory/train.json'

    def __init__(
        self,
        split: str = 'train',
        backend_args: Optional[dict] = None,
        **kwargs,
    ) -> None:
        self.split = split
        self.backend_args = backend_args
        kwargs.setdefault('data_prefix', dict(img_path=split))
        super().__init__(**kwargs)

    @property
    def split_dir(self) -> str:
        """The folder holding the split's images and JSON files."""
        return self.data_prefix['img_path']

    def load_data_list(self) -> List[dict]:
        """Read every annotation; raise on the first problem."""
        data_list = self._parse(report=None)
        explained = sum(s['explanation'] is not None for s in data_list)
        MMLogger.get_current_instance().info(
            f'ReasonSegDataset split={self.split}: {len(data_list)} queries, '
            f'{explained} with an explanatory answer'
        )
        return data_list

    def scan(self) -> Tuple[List[dict], List[str]]:
        """Read every annotation without raising (for
        :func:`mmgres.datasets.utils.find_dataset_problems`).

        Returns:
            tuple[list[dict], list[str]]: The samples of the images that
            could be parsed, and one message per problem.
        """
        problems: List[str] = []
        return self._parse(report=problems.append), problems

    def _parse(self, report: Optional[Report]) -> List[dict]:
        folder = self.split_dir
        try:
            names = sorted(
                name
                for name in list_dir_or_file(
                    folder,
                    list_dir=False,
                    suffix='.jpg',
                    backend_args=self.backend_args,
                )
            )
        except FileNotFoundError as e:
            msg = f'{folder}: ReasonSeg split folder not found'
            if report is None:
                raise FileNotFoundError(msg) from e
            report(msg)
            return []
        if not names:
            msg = f'{folder}: no *.jpg image in the ReasonSeg split folder'
            if report is None:
                raise ReferDataError(msg)
            report(msg)
        try:
            explanations = self._explanations()
        except ReferDataError as e:
            if report is None:
                raise
            report(str(e))
            explanations = {}
        data_list = []
        for name in names:
            try:
                samples = self._parse_image(folder, name)
            except (FileNotFoundError, ReferDataError, OSError) as e:
                if report is None:
                    raise
                report(str(e))
                continue
            for sample in samples:
                sample['explanation'] = explanations.get(name)
            data_list.extend(samples)
        return data_list

    def _explanations(self) -> dict:
        """Image file name -> ``outputs`` of ``explanatory/train.json``;
        empty when the file does not exist."""
        if not self.data_root:
            return {}
        path = join_path(self.data_root, self.EXPLANATORY_FILE)
        if not exists(path, backend_args=self.backend_args):
            return {}
        try:
            items = json.loads(get(path, backend_args=self.backend_args))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ReferDataError(f'{path}: not valid JSON: {e}') from e
        if not isinstance(items, list):
            raise ReferDataError(f'{path}: expected a JSON list')
        out = {}
        for i, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get('image'), str)
                or not isinstance(item.get('outputs'), str)
            ):
                raise ReferDataError(
                    f'{path}: entry {i} needs "image" and "outputs" strings'
                )
            out[item['image']] = item['outputs']
        return out

    def _parse_image(self, folder: str, name: str) -> List[dict]:
        stem = osp.splitext(name)[0]
        img_path = join_path(folder, name)
        json_path = join_path(folder, stem + '.json')
        anno = _read_json(json_path, self.backend_args)
        texts = _queries(anno, json_path)
        is_sentence = anno.get('is_sentence')
        if not isinstance(is_sentence, bool):
            raise ReferDataError(
                f'{json_path}: "is_sentence" must be true or false, got '
                f'{is_sentence!r}'
            )
        shapes = _shapes(anno, json_path)
        if not any(not ignore for _, ignore in shapes):
            raise ReferDataError(f'{json_path}: no target polygon')
        try:
            height, width = _image_size(img_path, self.backend_args)
        except Exception as e:
            raise OSError(
                f'{img_path}: cannot read the image size: {e}'
            ) from e
        target = lisa_mask(shapes, height, width) == 1
        rle = mask_utils.encode(np.asfortranarray(target.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
        instance = dict(
            bbox=[x, y, x + w, y + h],
            bbox_label=0,
            ignore_flag=0,
            mask=rle,
            ann_id=0,
        )
        return [
            dict(
                img_path=img_path,
                img_id=stem,
                height=height,
                width=width,
                text=text,
                sent_id=i,
                is_sentence=is_sentence,
                task='reason',
                no_target=False,
                instances=[instance],
            )
            for i, text in enumerate(texts)
        ]
