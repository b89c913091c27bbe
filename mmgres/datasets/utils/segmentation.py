# Copyright (c) mmgres contributors. All rights reserved.
"""COCO segmentations: validation, cleaning and decoding.

A COCO ``segmentation`` is one of

- a list of polygons ``[[x1, y1, x2, y2, ...], ...]``, one per connected
  part, in absolute pixel coordinates;
- an RLE dict ``{'size': [h, w], 'counts': ...}`` whose ``counts`` is either
  *compressed* (a ``str`` or ``bytes``, as ``pycocotools.mask.encode`` gives)
  or *uncompressed* (a ``list`` of run lengths, as COCO's ``iscrowd``
  annotations use).

The official referring loaders (the ``refer`` API and ReLA's gRefCOCO loader)
drop polygons with fewer than 3 points (fewer than 6 numbers) and drop an
object whose polygons are all invalid; :func:`clean_segmentation` does the
same and :func:`segmentation_problem` says what is wrong with a malformed
one.
"""

from typing import List, Optional, Union

import cv2
import numpy as np
import pycocotools.mask as mask_utils

Segmentation = Union[List[List[float]], dict]


def is_valid_polygon(polygon) -> bool:
    """Whether ``polygon`` is a flat list of at least 3 (x, y) points.

    Example:
        >>> is_valid_polygon([0, 0, 4, 0, 4, 4])
        True
        >>> is_valid_polygon([0, 0, 4, 4])  # 2 points
        False
    """
    return (
        isinstance(polygon, (list, tuple, np.ndarray))
        and len(polygon) >= 6
        and len(polygon) % 2 == 0
    )


def segmentation_problem(segm, height: int, width: int) -> Optional[str]:
    """Say what is wrong with a segmentation, or return None if it is usable.

    A polygon list is usable when at least one polygon is valid (the
    invalid ones are dropped); an RLE when it has ``size == [height, width]``
    and ``counts`` of type ``str``, ``bytes`` or ``list``.

    Args:
        segm: The ``segmentation`` field of a COCO annotation.
        height (int): Height of the image the annotation belongs to.
        width (int): Width of the image the annotation belongs to.

    Returns:
        str | None: A short description of the problem.
    """
    if isinstance(segm, (list, tuple)):
        if len(segm) == 0:
            return 'empty polygon list'
        if not all(isinstance(p, (list, tuple)) for p in segm):
            return 'polygons must be lists of numbers'
        if not any(is_valid_polygon(p) for p in segm):
            return (
                'no valid polygon (each needs at least 3 points, i.e. '
                f'6 numbers; got lengths {[len(p) for p in segm]})'
            )
        return None
    if isinstance(segm, dict):
        if 'counts' not in segm or 'size' not in segm:
            return "RLE needs the keys 'counts' and 'size'"
        if not isinstance(segm['counts'], (str, bytes, list)):
            return (
                "RLE 'counts' must be str/bytes (compressed) or a list "
                f'(uncompressed), got {type(segm["counts"]).__name__}'
            )
        size = list(segm['size'])
        if size != [height, width]:
            return (
                f'RLE size {size} does not match the image size '
                f'[{height}, {width}]'
            )
        if (
            isinstance(segm['counts'], list)
            and sum(segm['counts']) != height * width
        ):
            return (
                f'uncompressed RLE counts sum to {sum(segm["counts"])}, '
                f'expected height*width = {height * width}'
            )
        return None
    return (
        'segmentation must be a polygon list or an RLE dict, got '
        f'{type(segm).__name__}'
    )


def clean_segmentation(segm: Segmentation) -> Optional[Segmentation]:
    """Drop invalid polygons; return None if none is left.

    RLE dicts are returned unchanged. Call :func:`segmentation_problem`
    first to reject malformed input.

    Example:
        >>> clean_segmentation([[0, 0, 4, 0, 4, 4], [1, 1, 2, 2]])
        [[0, 0, 4, 0, 4, 4]]
        >>> clean_segmentation([[1, 1, 2, 2]]) is None
        True
    """
    if isinstance(segm, dict):
        return segm
    polygons = [list(p) for p in segm if is_valid_polygon(p)]
    return polygons or None


def decode_segmentation(
    segm: Segmentation, height: int, width: int
) -> np.ndarray:
    """Rasterise a segmentation with pycocotools.

    Polygons go through ``frPyObjects`` and are merged into one RLE;
    uncompressed RLE goes through ``frPyObjects``; compressed RLE (``str``
    or ``bytes`` counts) is decoded directly.

    Args:
        segm: A polygon list or an RLE dict.
        height (int): Output height.
        width (int): Output width.

    Returns:
        np.ndarray: Binary mask of shape (height, width), dtype uint8.
    """
    if isinstance(segm, dict):
        if isinstance(segm['counts'], list):
            rle = mask_utils.frPyObjects(segm, height, width)
        else:
            rle = dict(size=list(segm['size']), counts=segm['counts'])
    else:
        polygons = [
            np.asarray(p, dtype=np.float64)
            for p in segm
            if is_valid_polygon(p)
        ]
        if not polygons:
            return np.zeros((height, width), dtype=np.uint8)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    return fortran_to_c(mask_utils.decode(rle))


def fortran_to_c(mask: np.ndarray) -> np.ndarray:
    """The same uint8 (H, W) mask in C order.

    pycocotools decodes column by column (Fortran order). numpy's copy into
    C order walks the destination with a stride of H bytes in the source,
    several times slower than the mask's decoding at COCO sizes; OpenCV's
    blocked ``transpose`` of the C-ordered view ``mask.T`` gives the same
    array in a fraction of that time.

    Example:
        >>> m = np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
        >>> fortran_to_c(m).flags['C_CONTIGUOUS'], fortran_to_c(m).tolist()
        (True, [[0, 1, 2], [3, 4, 5]])
    """
    mask = np.asarray(mask, dtype=np.uint8)
    if mask.flags['C_CONTIGUOUS']:
        return mask
    if mask.ndim == 2 and mask.size and mask.T.flags['C_CONTIGUOUS']:
        return cv2.transpose(mask.T)
    return np.ascontiguousarray(mask)
