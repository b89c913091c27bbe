# Copyright (c) mmgres contributors. All rights reserved.
"""Box helpers for the box metrics, over mmdet's implementations."""

from typing import Any, Optional

import numpy as np
import torch
from mmdet.structures.bbox import bbox_overlaps
from mmdet.structures.mask import mask2bbox as mmdet_mask2bbox
from torch import Tensor

from .mask_ops import to_numpy


def to_box_tensor(boxes: Any) -> Tensor:
    """Boxes of any supported kind as a float32 CPU tensor.

    Args:
        boxes: An (N, 4) xyxy tensor, array or list, or mmdet
            ``HorizontalBoxes``. None means no box.

    Returns:
        Tensor: Shape (N, 4), float32.
    """
    if boxes is None:
        return torch.zeros((0, 4), dtype=torch.float32)
    arr = to_numpy(boxes)
    if arr.size == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(
            'expected boxes of shape (N, 4) in xyxy order, got '
            f'shape {tuple(arr.shape)}'
        )
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def box_overlaps(boxes1: Any, boxes2: Any, mode: str = 'iou') -> Tensor:
    """Pairwise IoU or generalized IoU (mmdet ``bbox_overlaps``).

    Args:
        boxes1: Shape (M, 4), xyxy.
        boxes2: Shape (N, 4), xyxy.
        mode (str): ``'iou'`` or ``'giou'``.

    Returns:
        Tensor: Shape (M, N). GIoU lies in [-1, 1].
    """
    return bbox_overlaps(to_box_tensor(boxes1), to_box_tensor(boxes2), mode)


def mask_to_box(mask: Any) -> Optional[np.ndarray]:
    """The tight box of a binary mask, as GSVA derives REC boxes.

    Uses mmdet's ``mask2bbox``: pixel edges, so a mask whose foreground
    spans columns 2..4 gets ``x1 = 2, x2 = 5``.

    Args:
        mask: Shape (H, W) or (1, H, W).

    Returns:
        np.ndarray | None: Shape (4,), xyxy float32; None for an empty mask.
    """
    arr = to_numpy(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(
            f'expected a mask of shape (H, W), got shape {tuple(arr.shape)}'
        )
    if not arr.any():
        return None
    box = mmdet_mask2bbox(torch.from_numpy(arr != 0)[None])
    return box[0].numpy()


def points_in_boxes(points: Any, boxes: Any) -> np.ndarray:
    """Which points lie inside which boxes (edges included).

    Args:
        points: Shape (K, 2), ``(x, y)``.
        boxes: Shape (G, 4), xyxy.

    Returns:
        np.ndarray: Shape (K, G), bool.
    """
    pts = to_numpy(points).astype(np.float64).reshape(-1, 2)
    bxs = to_box_tensor(boxes).numpy().astype(np.float64)
    x, y = pts[:, 0:1], pts[:, 1:2]
    return (
        (x >= bxs[None, :, 0])
        & (x <= bxs[None, :, 2])
        & (y >= bxs[None, :, 1])
        & (y <= bxs[None, :, 3])
    )
