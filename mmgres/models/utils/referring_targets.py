# Copyright (c) mmgres contributors. All rights reserved.
"""The ground truth of a referring sample, as every grounder trains on it.

One encoding for all models:

- the **targets** (:func:`referring_targets`): the objects the expression
  refers to, ``labels`` all 0, ``masks`` bool (N, H, W) in the padded input
  frame, ``bboxes`` xyxy; none for a no-target sample. With ``context``
  the instances are every object of the image (``gt_context_instances``,
  from ``LoadReferringAnnotations(with_context=True)``): ``labels`` 0 for
  the referred ones and 1 for the others, as the dataset gives them, plus
  ``categories`` when the sample has them;
- the **merged mask** (:func:`merged_target`): bool (H, W), from
  ``gt_sem_seg`` (255, mmseg's ignore value, counts as background), else the
  union of the instance masks, else the filled boxes; empty for a no-target
  sample.

Masks arrive as mmdet ``BitmapMasks`` or tensors, in the frame of the
resized image (``img_shape``); the heads want them in the padded batch
frame (``batch_input_shape``), or resized to their own logits.
"""

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

__all__ = [
    'fit_to_shape',
    'instance_masks',
    'is_no_target',
    'merged_target',
    'merged_targets',
    'referring_targets',
]


def fit_to_shape(mask: Tensor, shape: Sequence[int], resize: bool = False):
    """Bring masks (..., h, w) to ``shape`` (H, W): crop what lies outside
    and zero-pad the rest (the padded-batch frame), or with ``resize`` crop
    and then resize (nearest) what is left to ``shape``.

    Example:
        >>> m = torch.ones(2, 3, dtype=torch.bool)
        >>> fit_to_shape(m, (3, 2)).int().tolist()
        [[1, 1], [1, 1], [0, 0]]
    """
    out_h, out_w = (int(v) for v in shape[:2])
    mask = mask[..., :out_h, :out_w]
    h, w = mask.shape[-2:]
    if (h, w) == (out_h, out_w):
        return mask
    if resize:
        lead = mask.shape[:-2]
        flat = mask.reshape(-1, 1, h, w).float()
        flat = F.interpolate(flat, size=(out_h, out_w), mode='nearest')
        return flat.reshape(*lead, out_h, out_w).to(mask.dtype)
    return F.pad(mask, (0, out_w - w, 0, out_h - h))


def instance_masks(
    instances: InstanceData,
    shape: Optional[Sequence[int]] = None,
    device=None,
) -> Tensor:
    """The instances' masks as a bool tensor (N, H, W), fitted to ``shape``
    (crop and zero-pad) when given.

    ``BitmapMasks`` / ``PolygonMasks`` are converted; without ``masks`` the
    boxes are filled (box-only data such as gRefCOCO's GREC split).
    """
    if device is None:
        device = instances.labels.device if 'labels' in instances else 'cpu'
    n = len(instances)
    if 'masks' in instances:
        masks = instances.masks
        if hasattr(masks, 'to_tensor'):
            masks = masks.to_tensor(dtype=torch.bool, device=device)
        masks = masks.to(device).bool()
    elif 'bboxes' in instances:
        if shape is None:
            raise ValueError('Filling boxes into masks needs a shape.')
        masks = torch.zeros((n, *shape[:2]), dtype=torch.bool, device=device)
        boxes = get_box_tensor(instances.bboxes).round().long().tolist()
        for k, (x0, y0, x1, y1) in enumerate(boxes):
            masks[k, max(y0, 0) : y1, max(x0, 0) : x1] = True
    else:
        raise ValueError(
            'The ground-truth instances have neither masks nor bboxes.'
        )
    return masks if shape is None else fit_to_shape(masks, shape)


def is_no_target(data_sample) -> bool:
    """The sample's ``metainfo['no_target']``; without it, whether it has
    no target instance."""
    nt = data_sample.metainfo.get('no_target', None)
    if nt is not None:
        return bool(nt)
    gt = data_sample.get('gt_instances', None)
    if gt is None and 'gt_sem_seg' not in data_sample:
        raise ValueError(
            'The sample has no ground truth: neither metainfo["no_target"], '
            '"gt_instances" nor "gt_sem_seg".'
        )
    if gt is not None:
        return len(gt) == 0
    return not bool(merged_target(data_sample).any())


def referring_targets(
    data_sample, pad_shape: Sequence[int], context: bool = False
) -> InstanceData:
    """The instances a grounder matches its predictions to.

    Args:
        data_sample (DetDataSample): ``gt_instances`` (or, with
            ``context``, ``gt_context_instances``) and ``metainfo``.
        pad_shape (Sequence[int]): (H, W) of the masks: the padded batch.
        context (bool): Every object of the image, labelled 0 (referred)
            or 1 (not referred), instead of the referred ones only.

    Returns:
        InstanceData: ``labels`` (long), ``masks`` (bool (N, H, W)),
        ``bboxes`` (float xyxy; from the masks when the sample has none)
        and, with ``context`` when the sample has them, ``categories``.
    """
    no_target = data_sample.metainfo.get('no_target', False)
    if context:
        if 'gt_context_instances' not in data_sample:
            raise KeyError(
                'Training on context instances needs "gt_context_instances" '
                'in the samples: build the dataset and '
                'LoadReferringAnnotations with with_context=True.'
            )
        gt = data_sample.gt_context_instances
    else:
        if 'gt_instances' not in data_sample:
            raise KeyError('The training sample has no "gt_instances".')
        gt = data_sample.gt_instances
    if no_target and not context:
        gt = gt[:0]
    masks = instance_masks(gt, pad_shape)
    device = masks.device
    if 'bboxes' in gt:
        bboxes = get_box_tensor(gt.bboxes).float().to(device)
    else:
        bboxes = mask2bbox(masks).float()
    if context:
        labels = (gt.labels.to(device) != 0).long()
        if no_target:
            labels = torch.ones_like(labels)
    else:
        labels = torch.zeros(len(gt), dtype=torch.long, device=device)
    out = InstanceData(labels=labels, masks=masks, bboxes=bboxes)
    if context and 'categories' in gt:
        out.categories = gt.categories.long().to(device)
    return out


def merged_target(
    data_sample,
    shape: Optional[Sequence[int]] = None,
    device=None,
    resize: bool = False,
) -> Tensor:
    """The merged ground-truth mask of a sample, bool (H, W).

    Args:
        data_sample (DetDataSample): ``gt_sem_seg`` and/or
            ``gt_instances``, and ``metainfo``.
        shape (Sequence[int], optional): Fit the mask to it (see
            :func:`fit_to_shape`). Defaults to the mask's own shape
            (``img_shape`` when it is made from boxes).
        device: Of the result.
        resize (bool): Resize (nearest) instead of zero-padding.
    """
    gt = data_sample.get('gt_instances', None)
    if 'gt_sem_seg' in data_sample:
        seg = data_sample.gt_sem_seg.data
        seg = seg.reshape(seg.shape[-2:])
        seg = (seg > 0) & (seg != 255)
    elif gt is not None and len(gt) > 0:
        frame = shape or data_sample.metainfo.get('img_shape')
        seg = instance_masks(gt, None if 'masks' in gt else frame).any(0)
    else:
        frame = shape or data_sample.metainfo.get('img_shape')
        if frame is None:
            raise ValueError('An empty merged mask needs a shape.')
        seg = torch.zeros(tuple(frame[:2]), dtype=torch.bool)
    seg = seg.to(device) if device is not None else seg
    if data_sample.metainfo.get('no_target', False):
        seg = torch.zeros_like(seg)
    return seg if shape is None else fit_to_shape(seg, shape, resize)


def merged_targets(
    data_samples, shape: Tuple[int, int], device=None
) -> Tensor:
    """:func:`merged_target` of a batch in the padded frame ``shape``,
    bool (B, H, W)."""
    return torch.stack([merged_target(s, shape, device) for s in data_samples])
