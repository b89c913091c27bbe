# Copyright (c) mmgres contributors. All rights reserved.
"""Loading images and referring annotations."""

from typing import List, Optional, Tuple

import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.structures.mask import BitmapMasks

from mmgres.registry import TRANSFORMS

from ..utils.segmentation import decode_segmentation
from .mask_frame import rasterize_in_frame

MASK_FRAMES = ('original', 'resized')


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with errors that name the image.

    mmcv raises a bare ``FileNotFoundError`` from the file backend, or an
    ``AssertionError`` (skipped under ``python -O``) when the bytes do not
    decode. Here a missing file raises ``FileNotFoundError`` and an
    unreadable one ``OSError``, both naming ``img_path`` and the sample
    (``img_id``, ``ref_id``, ``sent_id`` when known). Registered under the
    same name, so configs in scope ``mmgres`` get it without change.

    Args:
        **kwargs: See :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def transform(self, results: dict) -> Optional[dict]:
        try:
            out = super().transform(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'Image file not found: {_where(results)}'
            ) from e
        except Exception as e:
            raise OSError(
                f'Cannot read image {_where(results)}: {type(e).__name__}: {e}'
            ) from e
        if out is not None and out.get('img') is None:
            raise OSError(f'Cannot decode image {_where(results)}')
        return out


def _where(results: dict) -> str:
    """``img_path`` and the sample's ids, for error messages."""
    ids = ', '.join(
        f'{k}={results[k]}'
        for k in ('img_id', 'ref_id', 'sent_id')
        if k in results
    )
    return f'{results["img_path"]!r}' + (f' ({ids})' if ids else '')


def union_of_masks(masks: List[np.ndarray], shape: Tuple[int, int]):
    """The union of 0/1 uint8 masks of ``shape`` (H, W), uint8 0/1.

    A running in-place maximum over the list: no (N, H, W) stack and no
    bool array to convert back.

    Example:
        >>> a = np.array([[1, 0, 0]], np.uint8)
        >>> b = np.array([[1, 1, 0]], np.uint8)
        >>> union_of_masks([a, b], (1, 3)).tolist()
        [[1, 1, 0]]
    """
    if not masks:
        return np.zeros(shape, dtype=np.uint8)
    out = np.array(masks[0], dtype=np.uint8)
    for mask in masks[1:]:
        np.maximum(out, mask, out=out)
    return out


def _resize_boxes(boxes, scale: Tuple[float, float], shape: Tuple[int, int]):
    """Scale xyxy boxes by ``scale`` (x, y) and clip them to ``shape``.

    Args:
        boxes: mmdet ``HorizontalBoxes`` or an (N, 4) array (``box_type``
            None).
        scale (tuple[float, float]): ``(x_scale, y_scale)``.
        shape (tuple[int, int]): ``(height, width)`` to clip to.
    """
    if isinstance(boxes, np.ndarray):
        out = boxes * np.array([*scale, *scale], dtype=boxes.dtype)
        out[:, 0::2] = out[:, 0::2].clip(0, shape[1])
        out[:, 1::2] = out[:, 1::2].clip(0, shape[0])
        return out
    boxes.rescale_(scale)
    boxes.clip_(shape)
    return boxes


@TRANSFORMS.register_module()
class LoadReferringAnnotations(LoadAnnotations):
    """Turn a referring sample's ``instances`` into ground-truth arrays.

    Masks are decoded with pycocotools (polygons via ``frPyObjects`` and
    ``merge``; RLE with compressed or uncompressed counts) at the image's
    **original** size, read from the sample's ``height``/``width``. If an
    image was loaded, its ``ori_shape`` must agree, or a ``ValueError``
    names ``img_path``. Put this transform after ``Resize`` in test
    pipelines to keep the ground truth in the original frame, as mmseg does.

    With ``mask_frame='resized'`` (ReLA's test-time ground truth) the
    transform must come after ``Resize``: each polygon is scaled by
    ``img_shape / (height, width)`` and rasterised at ``img_shape``, RLE
    masks are decoded at the original size and nearest-resized with
    pixel-centre sampling (detectron2, PIL), and ``gt_bboxes`` are scaled
    and clipped to ``img_shape``. Score such a ground truth with the
    metrics' ``resolution='resized'``.

    Required Keys:

    - height, width
    - instances (bbox, bbox_label, ignore_flag, mask)
    - no_target (optional, defaults to False)
    - ori_shape (optional)

    Added Keys:

    - gt_bboxes (HorizontalBoxes, (N, 4) xyxy)
    - gt_bboxes_labels (np.int64, (N, ))
    - gt_ignore_flags (bool, (N, ))
    - gt_masks (BitmapMasks, (N, H, W))
    - gt_seg_map (np.uint8, (H, W)): the union of the instance masks;
      not added for a sample without mask ground truth (``task='vqa'``,
      e.g. LLaVA-Instruct), which gets no boxes and no masks.
    - no_target (bool)
    - with_context (bool, only with ``with_context=True``)

    With ``with_context=True`` the sample's ``context_instances`` (every
    object of the image, from a dataset built with ``with_context=True``)
    are loaded instead of ``instances``. ``gt_bboxes_labels`` then packs two
    numbers, ``2 * category + other``, with ``other`` 0 for the
    expression's targets and 1 for the other objects, so that any mmdet
    transform that drops or reorders objects keeps both in step;
    ``gt_seg_map`` is still the union of the targets only, and
    ``with_context=True`` tells :class:`PackReferringInputs` to unpack
    them into ``gt_instances`` (the targets) and ``gt_context_instances``
    (all objects, ``labels`` 0/1 and ``categories``).

    Args:
        with_bbox (bool): Load ``gt_bboxes`` and ``gt_ignore_flags``.
            Defaults to True.
        with_label (bool): Load ``gt_bboxes_labels``. Defaults to True.
        with_mask (bool): Load ``gt_masks``. Defaults to True.
        with_seg (bool): Load the merged mask ``gt_seg_map``. Defaults to
            True.
        box_type (str): mmdet box type of ``gt_bboxes``. Defaults to
            ``'hbox'``.
        with_context (bool): Load ``context_instances`` as described
            above. Defaults to False.
        mask_frame (str): Where masks and boxes are made: ``'original'``
            (default: the original image) or ``'resized'`` (the
            ``img_shape`` frame after ``Resize``, re-rasterised from the
            polygons as ReLA does).
    """

    def __init__(
        self,
        with_bbox: bool = True,
        with_label: bool = True,
        with_mask: bool = True,
        with_seg: bool = True,
        box_type: str = 'hbox',
        with_context: bool = False,
        mask_frame: str = 'original',
        **kwargs,
    ) -> None:
        if mask_frame not in MASK_FRAMES:
            raise ValueError(
                f'mask_frame must be one of {MASK_FRAMES}, got {mask_frame!r}'
            )
        self.with_context = with_context
        self.mask_frame = mask_frame
        super().__init__(
            with_bbox=with_bbox,
            with_label=with_label,
            with_mask=with_mask,
            with_seg=with_seg,
            poly2mask=True,
            box_type=box_type,
            **kwargs,
        )

    @staticmethod
    def _original_size(results: dict) -> Tuple[int, int]:
        if 'height' in results and 'width' in results:
            size = (int(results['height']), int(results['width']))
        elif 'ori_shape' in results:
            size = tuple(int(v) for v in results['ori_shape'][:2])
        else:
            raise KeyError(
                'LoadReferringAnnotations needs "height" and '
                '"width" (or "ori_shape") in the sample'
            )
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(ori_shape[:2]) != size:
            raise ValueError(
                f'{results.get("img_path", "<no img_path>")}: the image is '
                f'{tuple(ori_shape[:2])} (h, w) but its annotation says '
                f'height={size[0]}, width={size[1]}'
            )
        return size

    @staticmethod
    def _resized_frame(results: dict) -> Tuple[int, int]:
        """``img_shape`` (h, w), checked to be usable by 'resized'."""
        where = results.get('img_path', '<no img_path>')
        if 'img_shape' not in results:
            raise KeyError(
                f"{where}: LoadReferringAnnotations(mask_frame='resized') "
                'needs `img_shape`: put it after Resize in the pipeline'
            )
        if results.get('flip', False):
            # the polygons are only scaled here, never mirrored
            raise ValueError(
                f"{where}: LoadReferringAnnotations(mask_frame='resized') "
                'must come before any flip'
            )
        return tuple(int(v) for v in results['img_shape'][:2])

    def _decode_masks(
        self, results: dict, h: int, w: int, out_hw: Tuple[int, int]
    ) -> List[np.ndarray]:
        """Decode every instance mask: a list of C-ordered uint8 arrays of
        shape ``out_hw``, left unstacked (``BitmapMasks`` stacks them).

        ``out_hw`` other than ``(h, w)`` rasterises in that resized frame
        (:func:`rasterize_in_frame`).
        """
        out_h, out_w = out_hw
        masks = []
        for instance in results.get('instances', []):
            try:
                if (out_h, out_w) == (h, w):
                    mask = decode_segmentation(instance['mask'], h, w)
                else:
                    mask = rasterize_in_frame(
                        instance['mask'], h, w, out_h, out_w
                    )
                masks.append(mask)
            except Exception as e:
                raise ValueError(
                    f'{results.get("img_path")}: cannot decode the mask of '
                    f'ann_id={instance.get("ann_id")}: {e}'
                ) from e
        return masks

    def transform(self, results: dict) -> dict:
        """Add the ground-truth arrays to ``results``.

        Args:
            results (dict): A sample from a referring dataset.

        Returns:
            dict: ``results`` with the keys listed above.
        """
        h, w = self._original_size(results)
        out_h, out_w = (
            self._resized_frame(results)
            if self.mask_frame == 'resized'
            else (h, w)
        )
        if self.with_context:
            if 'context_instances' not in results:
                raise KeyError(
                    f'{results.get("img_path")}: LoadReferringAnnotations'
                    '(with_context=True) needs "context_instances"; build '
                    'the dataset with with_context=True'
                )
            results['instances'] = [
                dict(i, bbox_label=2 * i.get('category', 0) + i['bbox_label'])
                for i in results['context_instances']
            ]
            results['with_context'] = True
        if self.with_bbox:
            self._load_bboxes(results)
            if (out_h, out_w) != (h, w):
                # detectron2's apply_box for a resize, then clipping to the
                # image as mmdet's Resize does
                results['gt_bboxes'] = _resize_boxes(
                    results['gt_bboxes'],
                    (out_w / w, out_h / h),
                    (out_h, out_w),
                )
        if self.with_label or self.with_context:
            self._load_labels(results)
        if self.with_mask or self.with_seg:
            masks = self._decode_masks(results, h, w, (out_h, out_w))
            if self.with_mask:
                # the masks' one copy: BitmapMasks stacks them (it would
                # copy an array given already stacked)
                results['gt_masks'] = BitmapMasks(masks, out_h, out_w)
            # a VQA sample has no mask ground truth, not an empty target
            if self.with_seg and results.get('task') != 'vqa':
                targets = masks
                if self.with_context:
                    targets = [
                        mask
                        for mask, i in zip(masks, results['instances'])
                        if i['bbox_label'] % 2 == 0
                    ]
                results['gt_seg_map'] = union_of_masks(targets, (out_h, out_w))
        results['no_target'] = bool(results.get('no_target', False))
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(with_bbox={self.with_bbox}, '
            f'with_label={self.with_label}, with_mask={self.with_mask}, '
            f'with_seg={self.with_seg}, box_type={self.box_type!r}, '
            f'with_context={self.with_context}, '
            f'mask_frame={self.mask_frame!r})'
        )
