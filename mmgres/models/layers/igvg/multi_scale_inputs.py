# Copyright (c) mmgres contributors. All rights reserved.
"""The inputs of a multi-scale deformable decoder, from feature maps of a
padded batch."""

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor


def padding_mask(
    metas: Optional[Sequence[dict]],
    bsz: int,
    hw: Tuple[int, int],
    device: torch.device,
) -> Tensor:
    """True on the padded cells of an (h, w) map of the batch, (B, h, w).

    A sample's image covers ``img_shape`` of the padded
    ``batch_input_shape``; on a map of (h, w) cells that is the first
    ``ceil(img_h / pad_h * h)`` rows and ``ceil(img_w / pad_w * w)`` columns.
    Without metas (or without those keys) every cell is valid.

    Example:
        A 48 × 64 image in a 64 × 64 batch, on a 4 × 4 map: rows 0-2 are
        valid (ceil(48 / 64 · 4) = 3), row 3 is padding.
    """
    h, w = hw
    mask = torch.zeros((bsz, h, w), dtype=torch.bool, device=device)
    for i in range(bsz if metas else 0):
        meta = metas[i]
        if 'batch_input_shape' not in meta or 'img_shape' not in meta:
            continue
        pad_h, pad_w = meta['batch_input_shape'][:2]
        img_h, img_w = meta['img_shape'][:2]
        mask[i, min(h, max(1, math.ceil(img_h / pad_h * h))) :] = True
        mask[i, :, min(w, max(1, math.ceil(img_w / pad_w * w))) :] = True
    return mask


def multi_scale_inputs(
    feats: Sequence[Tensor], metas: Optional[Sequence[dict]] = None
) -> Dict[str, Tensor]:
    """Flatten the levels for mmdet's ``DeformableDetrTransformerDecoder``
    (what mmdet's ``DeformableDETR.pre_transformer`` does for the encoder).

    Args:
        feats (Sequence[Tensor]): Levels (B, C, H_l, W_l), fine to coarse.
        metas (Sequence[dict], optional): ``img_shape`` and
            ``batch_input_shape`` per sample (see :func:`padding_mask`).

    Returns:
        dict[str, Tensor]: The decoder's keyword arguments ``value``
        (B, sum H_l W_l, C), ``key_padding_mask`` (B, sum H_l W_l),
        ``spatial_shapes`` (L, 2) as (h, w), ``level_start_index`` (L,) and
        ``valid_ratios`` (B, L, 2) as (w, h) fractions of valid cells.
    """
    bsz = feats[0].shape[0]
    device = feats[0].device
    values, pad_masks, shapes, ratios = [], [], [], []
    for feat in feats:
        h, w = feat.shape[-2:]
        mask = padding_mask(metas, bsz, (h, w), device)
        values.append(feat.flatten(2).transpose(1, 2))
        pad_masks.append(mask.flatten(1))
        shapes.append((h, w))
        valid_h = (~mask[:, :, 0]).sum(1).float() / h
        valid_w = (~mask[:, 0, :]).sum(1).float() / w
        ratios.append(torch.stack([valid_w, valid_h], dim=-1))
    spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=device)
    level_start_index = torch.cat(
        (
            spatial_shapes.new_zeros((1,)),
            spatial_shapes.prod(1).cumsum(0)[:-1],
        )
    )
    return dict(
        value=torch.cat(values, dim=1),
        key_padding_mask=torch.cat(pad_masks, dim=1),
        spatial_shapes=spatial_shapes,
        level_start_index=level_start_index,
        valid_ratios=torch.stack(ratios, dim=1),
    )
