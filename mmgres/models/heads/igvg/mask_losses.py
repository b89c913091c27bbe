# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's mask losses: the instance masks of the matched queries with the
negative-query term (Eq. 6), and the global mask."""

from typing import Dict, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import reduce_mean
from torch import Tensor

# the instance and global mask losses of IGVG (InstanceVG)
DICE = dict(
    type='DiceLoss',
    use_sigmoid=True,
    activate=True,
    naive_dice=True,
    eps=1.0,
    loss_weight=1.0,
)
BCE = dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)


def fit_logits(logits: Tensor, size: Sequence[int]) -> Tensor:
    """(B, N, h, w) logits upsampled bilinearly to ``size`` (InstanceVG
    upsamples its masks to the input before the losses)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(
        logits, size=tuple(size), mode='bilinear', align_corners=False
    )


def instance_mask_losses(
    mask_preds: Tensor,
    assignments: Sequence[Tuple[Tensor, Tensor]],
    gt_masks: Sequence[Tensor],
    loss_mask: nn.Module,
    loss_dice: nn.Module,
    neg_weight: float,
) -> Dict[str, Tensor]:
    """Instance mask losses of IGVG (Eq. 6).

    ``L_ins = 1/N_pos Σ_pos L_seg + λ_neg/N_neg Σ_neg L_seg``: the matched
    queries' masks against the masks of their ground-truth objects
    (``loss_mask``: BCE, mean over their pixels; ``loss_dice``: mean over
    them), and the unmatched queries' masks against an empty mask
    (``loss_neg_mask`` / ``loss_neg_dice``, averaged over the N_neg
    unmatched queries and multiplied by λ_neg; none when λ_neg = 0).

    Every query's loss is computed on the whole (B, Q, H, W) tensor and
    selected by per-query weights, so the backward pass needs no scatter
    per image. Every rank joins the ``reduce_mean`` of the counts whatever
    its samples, so that the ranks' collectives stay paired.

    Example:
        One image, two queries at logit -2 everywhere, none matched, λ_neg
        0.2, n pixels: ``loss_neg_mask = 0.2 · softplus(-2)`` and
        ``loss_neg_dice = 0.2 · (1 - 1 / (n σ(-2) + 1))`` (naive dice,
        eps 1); the matched terms are 0.

    Args:
        mask_preds (Tensor): (B, Q, h, w) logits, resized to the targets
            with :func:`fit_logits`.
        assignments (list[tuple[Tensor, Tensor]]): ``(pos_inds,
            pos_gt_inds)`` per image.
        gt_masks (list[Tensor]): (N_i, H, W) per image, all at one size;
            binary, or soft in [0, 1].
        loss_mask (nn.Module): Sigmoid BCE (mmdet ``CrossEntropyLoss``).
        loss_dice (nn.Module): mmdet ``DiceLoss``.
        neg_weight (float): λ_neg.
    """
    bsz, num_queries = mask_preds.shape[:2]
    logits = fit_logits(mask_preds, gt_masks[0].shape[-2:]).flatten(2)
    targets = logits.new_zeros(logits.shape)
    pos = logits.new_zeros((bsz, num_queries))
    for i, (pos_inds, pos_gt_inds) in enumerate(assignments):
        if len(pos_inds):
            masks = gt_masks[i][pos_gt_inds].flatten(1)
            targets[i, pos_inds] = masks.to(logits)
            pos[i, pos_inds] = 1.0
    logits = logits.flatten(0, 1)  # (B * Q, H * W)
    targets = targets.flatten(0, 1)
    pos = pos.flatten()
    num_pixels = logits.shape[1]
    losses = dict()
    groups = [('', pos, 1.0)]
    if neg_weight > 0:
        groups.append(('neg_', 1.0 - pos, neg_weight))
    for prefix, weight, scale in groups:
        num = max(reduce_mean(weight.sum()).item(), 1.0)
        if not weight.any():
            zero = logits.sum() * 0.0
            losses[f'loss_{prefix}mask'] = zero
            losses[f'loss_{prefix}dice'] = zero
            continue
        losses[f'loss_{prefix}mask'] = scale * loss_mask(
            logits,
            targets,
            weight=weight[:, None].expand_as(logits),
            avg_factor=num * num_pixels,
        )
        losses[f'loss_{prefix}dice'] = scale * loss_dice(
            logits, targets, weight=weight, avg_factor=num
        )
    return losses


def global_mask_losses(
    global_mask: Tensor,
    merged: Tensor,
    loss_mask: nn.Module,
    loss_dice: nn.Module,
) -> Dict[str, Tensor]:
    """The global mask's BCE (mean over all pixels, ``loss_global_mask``)
    and dice (mean over the images, ``loss_global_dice``).

    Args:
        global_mask (Tensor): (B, 1, h, w) logits, resized to the targets
            with :func:`fit_logits`.
        merged (Tensor): (B, H, W) merged ground-truth masks, binary or
            soft.
        loss_mask (nn.Module): Sigmoid BCE.
        loss_dice (nn.Module): Dice loss.
    """
    logits = fit_logits(global_mask, merged.shape[-2:]).flatten(1)
    target = merged.to(logits).flatten(1)
    return dict(
        loss_global_mask=loss_mask(
            logits.reshape(-1), target.reshape(-1), avg_factor=target.numel()
        ),
        loss_global_dice=loss_dice(logits, target, avg_factor=target.shape[0]),
    )
