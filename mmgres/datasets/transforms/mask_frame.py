# Copyright (c) mmgres contributors. All rights reserved.
"""Rasterising a COCO segmentation in a resized frame, as ReLA does.

ReLA (``gres_model/data/dataset_mappers/refcoco_mapper.py``) builds its
test-time ground truth in the network's frame: detectron2's
``T.Resize((480, 480))`` is applied to the polygon coordinates
(``transform_instance_annotations`` -> ``ResizeTransform.apply_coords``:
``x * new_w / w``, ``y * new_h / h``) and the scaled polygons are then
rasterised at 480x480 with pycocotools ``frPyObjects``. Resizing the mask
rasterised at the original size gives different boundary pixels, so the two
are not interchangeable. An RLE segmentation has no coordinates to scale;
detectron2 decodes it at the original size and resizes the mask with PIL's
nearest filter (``apply_segmentation``), which samples at pixel centres,
unlike cv2's nearest.
"""

from typing import Sequence

import numpy as np
from PIL import Image

from ..utils.segmentation import Segmentation, decode_segmentation


def scale_polygons(
    polygons: Sequence[Sequence[float]], x_scale: float, y_scale: float
) -> list:
    """Scale flat ``[x1, y1, x2, y2, ...]`` polygons about the origin.

    Args:
        polygons (Sequence[Sequence[float]]): COCO polygons.
        x_scale (float): Factor of the x coordinates (new width / width).
        y_scale (float): Factor of the y coordinates (new height / height).

    Returns:
        list[np.ndarray]: float64 arrays of the same lengths.

    Example:
        >>> scale_polygons([[0, 0, 4, 0, 4, 2]], 0.5, 2.0)[0].tolist()
        [0.0, 0.0, 2.0, 0.0, 2.0, 4.0]
    """
    out = []
    for polygon in polygons:
        xy = np.array(polygon, dtype=np.float64)
        # the same two multiplications as detectron2's apply_coords, so the
        # float results (and the pixels they rasterise to) are identical
        xy[0::2] = xy[0::2] * x_scale
        xy[1::2] = xy[1::2] * y_scale
        out.append(xy)
    return out


def resize_mask_pixel_centre(mask: np.ndarray, size: Sequence[int]):
    """Nearest-neighbour resize sampling at pixel centres (PIL, detectron2).

    Output pixel ``i`` takes input pixel ``floor((i + 0.5) * in / out)``;
    cv2's nearest takes ``floor(i * in / out)`` instead.

    Args:
        mask (np.ndarray): Shape (H, W), uint8 or bool.
        size (Sequence[int]): ``(height, width)`` of the output.

    Returns:
        np.ndarray: Shape ``size``, uint8.
    """
    h, w = int(size[0]), int(size[1])
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8))
    return np.asarray(image.resize((w, h), Image.NEAREST), dtype=np.uint8)


def rasterize_in_frame(
    segm: Segmentation,
    height: int,
    width: int,
    out_height: int,
    out_width: int,
) -> np.ndarray:
    """Rasterise a segmentation of a ``height x width`` image in a resized
    ``out_height x out_width`` frame.

    Polygons are scaled by ``out_width / width`` and ``out_height / height``
    and rasterised at the output size; an RLE is decoded at the original
    size and resized by :func:`resize_mask_pixel_centre`.

    Args:
        segm: A COCO polygon list or RLE dict, in original pixels.
        height (int): Original image height.
        width (int): Original image width.
        out_height (int): Height of the resized frame.
        out_width (int): Width of the resized frame.

    Returns:
        np.ndarray: Shape (out_height, out_width), uint8.
    """
    if isinstance(segm, dict):
        mask = decode_segmentation(segm, height, width)
        if mask.shape == (out_height, out_width):
            return mask
        return resize_mask_pixel_centre(mask, (out_height, out_width))
    # decode_segmentation drops the polygons under 3 points, as before
    polygons = scale_polygons(segm, out_width / width, out_height / height)
    return decode_segmentation(polygons, out_height, out_width)
