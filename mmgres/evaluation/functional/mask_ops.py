# Copyright (c) mmgres contributors. All rights reserved.
"""Binary-mask arithmetic shared by the mask metrics.

Everything here takes numpy arrays or torch tensors and returns numpy arrays
or Python numbers. The counting functions are written for speed: a metric
calls :func:`mask_counts` once per sample, so it does one logical AND and
three ``count_nonzero`` passes, and allocates one temporary.
"""

from typing import Any, Tuple

import mmcv
import numpy as np
import torch


def to_numpy(data: Any) -> np.ndarray:
    """Turn a tensor, an mmdet ``BitmapMasks`` or a sequence into an array.

    CPU tensors are shared, not copied.

    Args:
        data: A ``torch.Tensor``, ``np.ndarray``, an object with a ``masks``
            array (mmdet ``BitmapMasks``), or anything ``np.asarray`` takes.

    Returns:
        np.ndarray: The same values as a numpy array.
    """
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    if hasattr(data, 'masks') and isinstance(data.masks, np.ndarray):
        return data.masks
    if hasattr(data, 'tensor') and isinstance(data.tensor, torch.Tensor):
        # mmdet box types (HorizontalBoxes) and other tensor wrappers.
        return data.tensor.detach().cpu().numpy()
    return np.asarray(data)


def to_bool_mask(data: Any) -> np.ndarray:
    """Return a 2-D boolean mask, without a copy when it already is one.

    Args:
        data: A mask of shape (H, W) or (1, H, W); any dtype, non-zero
            meaning foreground.

    Returns:
        np.ndarray: Shape (H, W), dtype bool.

    Raises:
        ValueError: If the mask is not 2-D or 1×H×W.
    """
    mask = to_numpy(data)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise ValueError(
            'expected a mask of shape (H, W) or (1, H, W), got '
            f'shape {tuple(mask.shape)}'
        )
    if mask.dtype != np.bool_:
        mask = mask != 0
    return mask


def merge_masks(masks: Any) -> np.ndarray:
    """The union of instance masks.

    Args:
        masks: Instance masks of shape (N, H, W) (tensor, array or
            ``BitmapMasks``). N may be 0.

    Returns:
        np.ndarray: Shape (H, W), dtype bool.
    """
    masks = to_numpy(masks)
    if masks.ndim != 3:
        raise ValueError(
            'expected instance masks of shape (N, H, W), got '
            f'shape {tuple(masks.shape)}'
        )
    if masks.shape[0] == 1:
        return to_bool_mask(masks)
    return np.any(masks, axis=0)


def mask_counts(pred: np.ndarray, gt: np.ndarray) -> Tuple[int, int, int]:
    """Intersection, predicted and ground-truth pixel counts of two masks.

    The union is ``pred_pixels + gt_pixels - intersection``.

    Args:
        pred (np.ndarray): Predicted mask, shape (H, W), dtype bool.
        gt (np.ndarray): Ground-truth mask, shape (H, W), dtype bool.

    Returns:
        tuple[int, int, int]: ``(intersection, pred_pixels, gt_pixels)``.

    Example:
        >>> a = np.array([[1, 1, 0]], bool)
        >>> b = np.array([[0, 1, 1]], bool)
        >>> mask_counts(a, b)
        (1, 2, 2)
    """
    if pred.shape != gt.shape:
        raise ValueError(
            f'the predicted mask has shape {pred.shape} but the '
            f'ground-truth mask has shape {gt.shape}'
        )
    inter = np.count_nonzero(np.logical_and(pred, gt))
    return int(inter), int(np.count_nonzero(pred)), int(np.count_nonzero(gt))


def resize_mask_nearest(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Resize a boolean mask with nearest-neighbour interpolation.

    Args:
        mask (np.ndarray): Shape (H, W), dtype bool.
        size (tuple[int, int]): The target ``(height, width)``.

    Returns:
        np.ndarray: Shape ``size``, dtype bool. The input itself when it
        already has that size.
    """
    h, w = int(size[0]), int(size[1])
    if mask.shape == (h, w):
        return mask
    resized = mmcv.imresize(
        mask.astype(np.uint8), (w, h), interpolation='nearest'
    )
    return resized.astype(bool)
