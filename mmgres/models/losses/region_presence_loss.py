# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's region presence loss L_r (Eq. 11) and its targets."""

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor

from mmgres.registry import MODELS


def region_index(length: int, cells: int, device=None) -> Tensor:
    """The region cell of every pixel along one axis.

    Pixel ``r`` of ``length`` falls in cell ``(r · cells) // length``: the
    cells split the axis into equal parts, and when ``length`` is not a
    multiple of ``cells`` the first cell of every part boundary rounds up.
    E.g. ``length=6, cells=4`` gives ``[0, 0, 1, 2, 2, 3]``.
    """
    return torch.arange(length, device=device) * cells // length


def region_presence_targets(
    masks: Tensor, region_grid: Sequence[int] = (4, 4)
) -> Tensor:
    """Which regions of the grid hold a target pixel.

    A region is positive when any target pixel falls inside it (the paper's
    ``δ^{n,gt}``). Regions are numbered in row-major order, the order of
    the anchors of :class:`AnchoredVisionBackbone`. The grid covers the
    whole mask (for a padded batch: the padded input frame, as the
    features do).

    Worked example (2×2 grid, 4×4 mask, one pixel set at row 0, column 3)::

        0 0 0 1
        0 0 0 0   →   [[0, 1],    →  [0, 1, 0, 0]
        0 0 0 0        [0, 0]]
        0 0 0 0

    Args:
        masks (Tensor): Target masks, shape (B, H, W) or (H, W), bool or
            {0, 1}.
        region_grid (tuple[int, int]): Cells (rows, columns).

    Returns:
        Tensor: Float {0, 1} targets, shape (B, rows · columns) (or
        (rows · columns,) for a single mask).
    """
    single = masks.dim() == 2
    if single:
        masks = masks[None]
    gh, gw = region_grid
    _, h, w = masks.shape
    rows = F.one_hot(region_index(h, gh, masks.device), gh).float()  # (H, gh)
    cols = F.one_hot(region_index(w, gw, masks.device), gw).float()  # (W, gw)
    counts = rows.t() @ (masks > 0).float() @ cols  # (B, gh, gw)
    targets = (counts > 0).float().flatten(1)
    return targets[0] if single else targets


@MODELS.register_module()
class RegionPresenceLoss(nn.Module):
    """Region presence loss ``L_r = Σ_n CE(δ_n, δ_n^gt)`` (Eq. 11).

    The per-region presence logits ``δ_n`` of :class:`RegionAwareHead`
    against the region targets of :func:`region_presence_targets`. The
    cross-entropy of a binary presence is the sigmoid binary cross-entropy;
    it is summed over the N regions (as Eq. 11 writes) and then reduced over
    the batch.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over the batch.
        loss_weight (float): λ of Eq. 14/15. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(
        self,
        logits: Tensor,
        targets: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
        reduction_override: Optional[str] = None,
    ) -> Tensor:
        """Compute L_r.

        Args:
            logits (Tensor): Presence logits ``δ``, shape (B, N).
            targets (Tensor): {0, 1} region targets, shape (B, N).
            weight (Tensor, optional): Per-sample weights, shape (B,).
            avg_factor (float, optional): Divide the sum by this instead of
                the batch size.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss.
        """
        reduction = reduction_override or self.reduction
        loss = F.binary_cross_entropy_with_logits(
            logits, targets.to(logits.dtype), reduction='none'
        ).sum(dim=-1)
        loss = weight_reduce_loss(loss, weight, reduction, avg_factor)
        return self.loss_weight * loss
