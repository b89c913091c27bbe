# Copyright (c) mmgres contributors. All rights reserved.
"""The frame a grounder's predictions are given in, and the one place
where mask logits and boxes are brought there.

Two frames exist at test time (mmdet's names): the original image
(``ori_shape``) and the network's resized image without the batch padding
(``img_shape``). mmdet's ``predict(..., rescale=True)`` gives the original
frame; but mmengine's test loop calls ``predict`` without ``rescale``, so a
config chooses the frame through ``model.test_cfg``:

- ``rescale`` (bool, default True): masks and boxes in the original frame;
  False keeps them in the ``img_shape`` frame, where ReLA
  (``GRES.forward`` argmaxes the logits at the 480x480 input) and
  InstanceVG (``apis/test.py``: ``evaluate_model`` with ``rescale=False``)
  threshold and score their masks;
- ``rescale_boxes`` (bool, default: ``rescale``; ours): the boxes' (and
  reference points') frame alone, for a test whose ground-truth boxes stay
  in the original frame while its masks are scored in the network's.
"""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def resolve_rescale(
    test_cfg: Optional[dict], rescale: Optional[bool] = None
) -> Tuple[bool, bool]:
    """The frames of the masks and of the boxes.

    Args:
        test_cfg (dict, optional): The grounder's ``test_cfg``.
        rescale (bool, optional): ``predict``'s argument. None (what the
            test loop passes): ``test_cfg.rescale`` and
            ``test_cfg.rescale_boxes``; True or False: both frames, as in
            mmdet.

    Returns:
        tuple[bool, bool]: ``(masks_rescaled, boxes_rescaled)``, True for
        the original frame.

    Example:
        >>> resolve_rescale(dict(rescale=False, rescale_boxes=True))
        (False, True)
        >>> resolve_rescale(dict(rescale=False), rescale=True)
        (True, True)
    """
    if rescale is not None:
        return bool(rescale), bool(rescale)
    cfg = test_cfg or {}
    masks = cfg.get('rescale', True)
    boxes = cfg.get('rescale_boxes', masks)
    for key, value in (('rescale', masks), ('rescale_boxes', boxes)):
        if not isinstance(value, bool):
            raise TypeError(
                f'test_cfg.{key} must be True or False, got {value!r}.'
            )
    return masks, boxes


def frame_shape(meta: dict, rescaled: bool) -> Tuple[int, int]:
    """(H, W) of the original frame (``rescaled``) or the ``img_shape``
    frame of a sample's metainfo."""
    key = 'ori_shape' if rescaled else 'img_shape'
    if key not in meta:
        raise KeyError(
            f'The sample metainfo has no {key!r}, needed for predictions '
            f'in the {"original" if rescaled else "img_shape"} frame.'
        )
    h, w = meta[key][:2]
    return int(h), int(w)


def mask_logits_to_frame(
    logits: Tensor,
    meta: dict,
    pad_shape: Sequence[int],
    rescaled: bool,
    thr: float,
    align_corners: bool = False,
) -> Tensor:
    """Mask logits over the padded input to binary masks in a frame.

    Bilinear up to the padded input (``pad_shape``), crop the image
    (``img_shape``), and with ``rescaled`` bilinear again to
    ``ori_shape``; then ``sigmoid > thr``. One mask at a time, thresholded
    at once, so a huge original image (e.g. 8000x8000) costs one float mask
    of memory, not K.

    Args:
        logits (Tensor): Shape (K, h, w), over the whole padded input.
        meta (dict): ``img_shape`` (and ``ori_shape`` when ``rescaled``).
        pad_shape (Sequence[int]): (H_pad, W_pad), the padded input.
        rescaled (bool): Original frame (True) or ``img_shape`` (False).
        thr (float): Threshold on the sigmoid.
        align_corners (bool): Of the first upsampling (InstanceVG's masks:
            True). The resize to ``ori_shape`` keeps False.

    Returns:
        Tensor: Shape (K, H, W) bool, (H, W) the frame's shape.
    """
    if logits.dim() != 3:
        raise ValueError(
            f'mask logits must be (K, h, w), got {tuple(logits.shape)}.'
        )
    img_h, img_w = frame_shape(meta, False)
    out_h, out_w = frame_shape(meta, rescaled)
    out = logits.new_zeros((logits.shape[0], out_h, out_w), dtype=torch.bool)
    for k in range(logits.shape[0]):
        m = F.interpolate(
            logits[None, k : k + 1],
            size=tuple(int(v) for v in pad_shape[:2]),
            mode='bilinear',
            align_corners=align_corners,
        )[..., :img_h, :img_w]
        # at equal sizes bilinear (align_corners=False) is the identity:
        # skipped, so the img_shape frame is thresholded as is
        if (out_h, out_w) != (img_h, img_w):
            m = F.interpolate(
                m, size=(out_h, out_w), mode='bilinear', align_corners=False
            )
        out[k] = m[0, 0].sigmoid() > thr
    return out


def _scale_xy(meta: dict, ref: Tensor) -> Tensor:
    """(sx, sy) of ``scale_factor`` (resized / original); 1 without it."""
    sx, sy = meta.get('scale_factor', (1.0, 1.0))[:2]
    return ref.new_tensor([float(sx), float(sy)])


def boxes_to_frame(
    boxes: Tensor, meta: dict, src_rescaled: bool, dst_rescaled: bool
) -> Tensor:
    """Move xyxy boxes between the ``img_shape`` and the original frame
    (``scale_factor``), clipped to the destination frame.

    Args:
        boxes (Tensor): Shape (N, 4), xyxy in the source frame.
        meta (dict): ``scale_factor`` (sx, sy), ``img_shape``,
            ``ori_shape``.
        src_rescaled (bool): The boxes are in the original frame.
        dst_rescaled (bool): Give them in the original frame.

    Returns:
        Tensor: Shape (N, 4); ``boxes`` itself when the frames agree.

    Example:
        >>> meta = dict(scale_factor=(0.5, 2.0), img_shape=(40, 10),
        ...             ori_shape=(20, 20))
        >>> boxes_to_frame(torch.tensor([[1., 2., 9., 40.]]), meta,
        ...                False, True).tolist()
        [[2.0, 1.0, 18.0, 20.0]]
    """
    if src_rescaled == dst_rescaled:
        return boxes
    s = _scale_xy(meta, boxes).repeat(2)
    out = boxes / s if dst_rescaled else boxes * s
    h, w = frame_shape(meta, dst_rescaled)
    return torch.minimum(out.clamp(min=0), out.new_tensor([w, h, w, h]))


def points_to_frame(
    points: Tensor, meta: dict, src_rescaled: bool, dst_rescaled: bool
) -> Tensor:
    """Move (x, y) points, shape (..., 2), between the frames (as
    :func:`boxes_to_frame`, not clipped)."""
    if src_rescaled == dst_rescaled:
        return points
    s = _scale_xy(meta, points)
    return points / s if dst_rescaled else points * s
