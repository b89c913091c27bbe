# Copyright (c) mmgres contributors. All rights reserved.
"""Loading images and referring annotations."""

from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.structures.mask import BitmapMasks

from mmgres.registry import TRANSFORMS

from ..utils.segmentation import decode_segmentation


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
        path = results['img_path']
        ids = ', '.join(
            f'{k}={results[k]}'
            for k in ('img_id', 'ref_id', 'sent_id')
            if k in results
        )
        where = f'{path!r}' + (f' ({ids})' if ids else '')
        try:
            out = super().transform(results)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'Image file not found: {where}') from e
        except Exception as e:
            raise OSError(
                f'Cannot read image {where}: {type(e).__name__}: {e}'
            ) from e
        if out is not None and out.get('img') is None:
            raise OSError(f'Cannot decode image {where}')
        return out


@TRANSFORMS.register_module()
class LoadReferringAnnotations(LoadAnnotations):
    """Turn a referring sample's ``instances`` into ground-truth arrays.

    Masks are decoded with pycocotools (polygons via ``frPyObjects`` and
    ``merge``; RLE with compressed or uncompressed counts) at the image's
    **original** size, read from the sample's ``height``/``width``. If an
    image was loaded, its ``ori_shape`` must agree, or a ``ValueError``
    names ``img_path``. Put this transform after ``Resize`` in test
    pipelines to keep the ground truth in the original frame, as mmseg does.

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
    - gt_seg_map (np.uint8, (H, W)): the union of the instance masks.
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
    """

    def __init__(
        self,
        with_bbox: bool = True,
        with_label: bool = True,
        with_mask: bool = True,
        with_seg: bool = True,
        box_type: str = 'hbox',
        with_context: bool = False,
        **kwargs,
    ) -> None:
        self.with_context = with_context
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

    def _decode_masks(self, results: dict, h: int, w: int) -> np.ndarray:
        """Decode every instance mask. Shape (N, h, w), uint8."""
        masks = []
        for instance in results.get('instances', []):
            try:
                masks.append(decode_segmentation(instance['mask'], h, w))
            except Exception as e:
                raise ValueError(
                    f'{results.get("img_path")}: cannot decode the mask of '
                    f'ann_id={instance.get("ann_id")}: {e}'
                ) from e
        if not masks:
            return np.zeros((0, h, w), dtype=np.uint8)
        return np.stack(masks)

    def transform(self, results: dict) -> dict:
        """Add the ground-truth arrays to ``results``.

        Args:
            results (dict): A sample from a referring dataset.

        Returns:
            dict: ``results`` with the keys listed above.
        """
        h, w = self._original_size(results)
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
        if self.with_label or self.with_context:
            self._load_labels(results)
        if self.with_mask or self.with_seg:
            masks = self._decode_masks(results, h, w)
            if self.with_mask:
                results['gt_masks'] = BitmapMasks(masks, h, w)
            if self.with_seg:
                targets = masks
                if self.with_context:
                    labels = [i['bbox_label'] for i in results['instances']]
                    other = np.asarray(labels, dtype=np.int64) % 2
                    targets = masks[other == 0]
                results['gt_seg_map'] = (
                    targets.any(axis=0).astype(np.uint8)
                    if len(targets)
                    else np.zeros((h, w), dtype=np.uint8)
                )
        results['no_target'] = bool(results.get('no_target', False))
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(with_bbox={self.with_bbox}, '
            f'with_label={self.with_label}, with_mask={self.with_mask}, '
            f'with_seg={self.with_seg}, box_type={self.box_type!r}, '
            f'with_context={self.with_context})'
        )
