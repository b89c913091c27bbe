# Copyright (c) mmgres contributors. All rights reserved.
"""One class of a semantic segmentation map as a referring target."""

from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, mask2bbox
from mmseg.datasets.transforms import LoadAnnotations as SegLoadAnnotations

from mmgres.registry import TRANSFORMS

IGNORE_INDEX = 255  # mmseg's (and LISA's ``ignore_label``) ignore value


def read_label_map(info: dict, backend_args: Optional[dict] = None):
    """Read the label map of an mmseg sample as mmseg's ``LoadAnnotations``
    does (``reduce_zero_label``, then ``label_map``).

    Args:
        info (dict): An entry of an mmseg dataset's ``data_list``:
            ``seg_map_path`` and optionally ``reduce_zero_label``,
            ``label_map`` and ``img_path`` (named in errors).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        np.ndarray: uint8 (H, W) class ids, 255 for ignored pixels.

    Raises:
        KeyError: ``info`` has no ``seg_map_path``.
        FileNotFoundError: The map does not exist (names it and the image).
    """
    if info.get('seg_map_path') is None:
        raise KeyError(
            f'{info.get("img_path", "<no img_path>")}: no seg_map_path; give '
            'the mmseg dataset data_prefix=dict(seg_map_path=...)'
        )
    path = info['seg_map_path']
    results = dict(
        seg_map_path=path,
        reduce_zero_label=bool(info.get('reduce_zero_label', False)),
        label_map=info.get('label_map'),
        seg_fields=[],
    )
    # a new loader per call: mmseg's keeps the first reduce_zero_label it
    # sees and asserts that later samples agree
    loader = SegLoadAnnotations(backend_args=backend_args)
    try:
        loader._load_seg_map(results)
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f'Segmentation map not found: {path!r} (image '
            f'{info.get("img_path", "<unknown>")!r})'
        ) from e
    return results['gt_seg_map']


@TRANSFORMS.register_module()
class LoadClassMask(BaseTransform):
    """Make the ground truth of a semantic-segmentation referring sample:
    the pixels of class ``class_id`` in its label map.

    The label map is read as mmseg reads it (:func:`read_label_map`); the
    mask is ``label == class_id``, so ignored pixels (255) are background,
    as in LISA's ``SemSegDataset`` (``masks.append(label == class_id)``).
    The output has the keys of :class:`LoadReferringAnnotations`, with one
    instance: the whole class region.

    Required Keys:

    - seg_map_path, class_id
    - reduce_zero_label, label_map (optional)

    Added Keys:

    - height, width
    - gt_bboxes (HorizontalBoxes, (1, 4) xyxy; the box of the mask)
    - gt_bboxes_labels (np.int64, (1, ), 0)
    - gt_ignore_flags (bool, (1, ), False)
    - gt_masks (BitmapMasks, (1, H, W))
    - gt_seg_map (np.uint8, (H, W))
    - no_target (bool, False)

    Args:
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        label = read_label_map(results, self.backend_args)
        mask = (label == int(results['class_id'])).astype(np.uint8)
        h, w = mask.shape
        results['height'], results['width'] = h, w
        box = mask2bbox(torch.from_numpy(mask[None]).bool()).float()
        results['gt_bboxes'] = HorizontalBoxes(box)
        results['gt_bboxes_labels'] = np.zeros(1, dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros(1, dtype=bool)
        results['gt_masks'] = BitmapMasks(mask[None], h, w)
        results['gt_seg_map'] = mask
        results['no_target'] = False
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend_args={self.backend_args})'
