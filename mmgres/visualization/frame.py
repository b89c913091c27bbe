# Copyright (c) mmgres contributors. All rights reserved.
"""Instances and merged masks of a grounding sample as numpy arrays,
checked against the image's frame and scaled to the size at which the
image is drawn."""

from typing import Optional, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import BaseBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData, PixelData


def to_numpy(data) -> np.ndarray:
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    return np.asarray(data)


def as_bool_masks(masks) -> np.ndarray:
    """Instance masks of any mmdet/torch/numpy kind as a bool array.

    Returns:
        np.ndarray: Shape (N, H, W), dtype bool. Float masks are read as
        probabilities and thresholded at 0.5.
    """
    if isinstance(masks, (BitmapMasks, PolygonMasks)):
        masks = masks.to_ndarray()
    masks = to_numpy(masks)
    if masks.dtype.kind == 'f':
        return masks > 0.5
    return masks.astype(bool)


def as_boxes(bboxes) -> np.ndarray:
    """Boxes (HorizontalBoxes or an array) as a float (N, 4) xyxy array."""
    if isinstance(bboxes, BaseBoxes):
        bboxes = bboxes.tensor
    return to_numpy(bboxes).reshape(-1, 4).astype(np.float32)


def mask_shape(masks) -> Tuple[int, int]:
    """(H, W) of masks of any kind, without converting them."""
    if isinstance(masks, (BitmapMasks, PolygonMasks)):
        return masks.height, masks.width
    return tuple(int(v) for v in masks.shape[-2:])


def nearest_index(size_in: int, size_out: int) -> np.ndarray:
    """The source pixel of each output pixel of a nearest-neighbour resize
    (the pixel under the output pixel's centre)."""
    idx = (np.arange(size_out) + 0.5) * (size_in / size_out)
    return np.minimum(idx.astype(np.int64), size_in - 1)


def resize_masks_nearest(masks, size: Tuple[int, int]) -> np.ndarray:
    """Masks (..., H, W) of any kind resized to ``size`` (h, w) by nearest
    neighbour, as a numpy array of the same dtype (polygons are scaled
    and rasterised at ``size``).

    Only the output pixels are read, so a large mask costs no full-size
    copy.
    """
    if isinstance(masks, PolygonMasks):
        return masks.resize(size).to_ndarray()
    if isinstance(masks, BitmapMasks):
        masks = masks.masks
    masks = to_numpy(masks)
    rows = nearest_index(masks.shape[-2], size[0])
    cols = nearest_index(masks.shape[-1], size[1])
    return masks[..., rows[:, None], cols[None, :]]


def check_max_draw_size(max_draw_size: Optional[int]) -> int:
    """0 (no limit) or a positive number of pixels."""
    if max_draw_size is None:
        return 0
    if isinstance(max_draw_size, bool) or not isinstance(
        max_draw_size, (int, np.integer)
    ):
        raise TypeError(
            'max_draw_size must be an int (0 or None: no limit), got '
            f'{max_draw_size!r}'
        )
    if max_draw_size < 0:
        raise ValueError(
            'max_draw_size must be >= 0 (0 or None: no limit), got '
            f'{max_draw_size}'
        )
    return int(max_draw_size)


def draw_size(shape: Tuple[int, int], max_draw_size: int) -> Tuple[int, int]:
    """The (h, w) at which an image of ``shape`` (H, W) is drawn: its own
    size, or scaled down so that the longer side is ``max_draw_size`` (0:
    no limit)."""
    h, w = int(shape[0]), int(shape[1])
    if not max_draw_size or max(h, w) <= max_draw_size:
        return h, w
    scale = max_draw_size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def check_shape(
    shape: Tuple[int, int],
    frame: Tuple[int, int],
    what: str,
    img_path: str,
) -> None:
    """Raise when a mask of ``shape`` (H, W) is not in the image's
    ``frame`` (H, W)."""
    if tuple(shape) != tuple(frame):
        raise ValueError(
            f'{what} of sample {img_path!r} has shape '
            f'{tuple(shape)}, but the image is '
            f'{tuple(frame)}; draw it on the image of the '
            'same frame (test-time predictions and ground truth are in '
            'the original frame).'
        )


def fit_instances(
    instances: Optional[InstanceData],
    frame: Tuple[int, int],
    size: Tuple[int, int],
    img_path: str,
) -> Optional[InstanceData]:
    """Instances of the image frame ``frame`` scaled to ``size``: masks by
    nearest neighbour, boxes and points by the scale."""
    if instances is None or size == frame:
        return instances
    scale = np.array(
        [size[1] / frame[1], size[0] / frame[0]], dtype=np.float32
    )
    out = InstanceData(metainfo=instances.metainfo)
    for key, value in instances.items():
        if key == 'masks':
            check_shape(mask_shape(value), frame, 'instance masks', img_path)
            value = resize_masks_nearest(value, size)
        elif key == 'bboxes':
            value = as_boxes(value) * np.tile(scale, 2)
        elif key == 'points':
            value = to_numpy(value).reshape(-1, 2) * scale
        out[key] = value
    return out


def fit_sem_seg(
    sem_seg: Optional[PixelData],
    frame: Tuple[int, int],
    size: Tuple[int, int],
    img_path: str,
) -> Optional[PixelData]:
    """A merged mask of the frame ``frame`` resized to ``size``."""
    if sem_seg is None or size == frame:
        return sem_seg
    data = sem_seg.get('data', sem_seg.get('sem_seg'))
    if data is None:
        return None
    check_shape(mask_shape(data), frame, 'merged mask', img_path)
    return PixelData(data=resize_masks_nearest(data, size))
