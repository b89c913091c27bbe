# Copyright (c) mmgres contributors. All rights reserved.
"""The CLIP input of an MLLM, made from the original image as the LLaVA,
LISA and GSVA releases make it."""

from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmgres.registry import TRANSFORMS

# OpenAI CLIP's RGB mean and std in 0-1 (``CLIPImageProcessor`` defaults).
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_resize_shape(height: int, width: int, size: int):
    """Size after resizing the short side to ``size``, as
    ``transformers``' ``get_resize_output_image_size`` with
    ``default_to_square=False``: the long side is truncated, not rounded.

    Example:
        ``clip_resize_shape(480, 640, 224)`` is ``(224, 298)``
        (224 * 640 / 480 = 298.67).
    """
    short, long = (height, width) if height <= width else (width, height)
    new_long = int(size * long / short)
    return (size, new_long) if height <= width else (new_long, size)


@TRANSFORMS.register_module()
class CLIPImageInput(BaseTransform):
    """Make the CLIP tower's input from the loaded (original) image.

    The GSVA release (LISA's data code) gives CLIP
    ``CLIPImageProcessor.preprocess(original RGB image)``, independently of
    the SAM frame: resize the short side to ``size`` with PIL bicubic on
    the uint8 image (long side truncated), centre-crop ``crop_size``
    (offsets ``(h - crop) // 2``), scale by 1/255 and normalise with CLIP's
    mean and std, in float32. This transform does exactly that on the BGR
    image of mmcv's loading (turned into RGB first), so it must run right
    after loading, before any resize, and stores the result as
    ``results['clip_img']`` (3, crop, crop) float32 RGB.
    :class:`PackReferringInputs` packs ``clip_img`` (one of its default
    ``meta_keys``) and the model (:meth:`mmgres.models.GSVA._encode_images`)
    reads it instead of making its own CLIP input from the resized image.

    Required keys: ``img`` (H, W, 3) uint8 BGR. Added keys: ``clip_img``.

    Args:
        size (int): Short side after resizing. Defaults to 224.
        crop_size (int): Side of the centre crop. Defaults to 224.
        mean (Sequence[float]): RGB mean in 0-1. Defaults to OpenAI CLIP's.
        std (Sequence[float]): RGB std in 0-1. Defaults to OpenAI CLIP's.
    """

    def __init__(
        self,
        size: int = 224,
        crop_size: int = 224,
        mean: Sequence[float] = OPENAI_CLIP_MEAN,
        std: Sequence[float] = OPENAI_CLIP_STD,
    ) -> None:
        if crop_size > size:
            raise ValueError(
                f'crop_size {crop_size} is larger than the resized short '
                f'side {size}.'
            )
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('mean and std need 3 values (RGB).')
        self.size = int(size)
        self.crop_size = int(crop_size)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                'CLIPImageInput needs the loaded (H, W, 3) uint8 image, '
                f'got shape {img.shape} and dtype {img.dtype}; put it right '
                'after LoadImageFromFile.'
            )
        h, w = img.shape[:2]
        nh, nw = clip_resize_shape(h, w, self.size)
        # BGR (mmcv's loading) to RGB; OpenCV's swap is many times faster
        # than copying numpy's reversed-channel view
        rgb = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB)
        x = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BICUBIC))
        c = self.crop_size
        top, left = (nh - c) // 2, (nw - c) // 2
        # channels first on the small uint8 crop, then the same float32
        # operations as ``(x / 255 - mean) / std``, in place
        x = x[top : top + c, left : left + c].transpose(2, 0, 1)
        x = x.astype(np.float32, order='C')
        x *= np.float32(1 / 255)
        x -= self.mean[:, None, None]
        x /= self.std[:, None, None]
        results['clip_img'] = x
        return results

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(size={self.size}, '
            f'crop_size={self.crop_size})'
        )
