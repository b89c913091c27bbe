# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's boundary-weighted mask loss L_p^seg (Eq. 12)."""

from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor

from mmgres.registry import MODELS


def boundary_band(masks: Tensor, kernel_size: int = 3) -> Tensor:
    """The boundary band ``E = dilate(M) - erode(M)`` of binary masks.

    Dilation and erosion use a ``kernel_size`` × ``kernel_size`` square
    (max pooling, stride 1). Outside the image counts as neither foreground
    nor background: an object touching the image border has no band along
    that border. With ``kernel_size=3`` the band is the ring of pixels
    within one pixel (8-neighbourhood) of the object's contour, on both
    sides of it.

    Worked example (``kernel_size=3``): a 3×3 square in the middle of a 6×6
    image (rows/columns 1-3) dilates to rows/columns 0-4 and erodes to the
    single pixel (2, 2), so the band is the 5×5 block without its centre:
    24 pixels.

    Args:
        masks (Tensor): Binary masks, shape (B, H, W), bool or {0, 1}.
        kernel_size (int): Odd side of the square structuring element.

    Returns:
        Tensor: {0, 1} float band, shape (B, H, W).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    m = (masks > 0).float()[:, None]
    pad = kernel_size // 2
    dilated = F.max_pool2d(m, kernel_size, stride=1, padding=pad)
    eroded = -F.max_pool2d(-m, kernel_size, stride=1, padding=pad)
    return (dilated - eroded)[:, 0]


@MODELS.register_module()
class BoundaryWeightedLoss(nn.Module):
    """Focal + boundary-weighted dice loss (Eq. 12).

    .. math::

        L^{seg}_p = L_{focal}(M, M^{gt}) + W ⊙ L_{dice}(M, M^{gt}),
        \\quad W = β E + (1 - E)

    with ``E`` the boundary band of the ground truth
    (:func:`boundary_band`). The dice loss is a per-image scalar, so ``W``
    weights its pixel sums (ours):
    ``L_dice = 1 - (2 Σ W p g + ε) / (Σ W p + Σ W g + ε)``, ``p = σ(M)``,
    with ε = 1 (ours). Focal and dice add 1 : 1, as Eq. 12 prints them.
    The focal loss (mmdet's sigmoid focal loss, α = 0.25, γ = 2) is averaged
    over the pixels of each image. An all-background target (a no-target
    sample) gives ``L_dice = 1 - ε / (Σ W p + ε)``, which pushes every
    pixel to background.

    ``kernel_size`` is in pixels of the resolution the loss is computed at;
    the paper does not give it. :class:`RegionAwareHead` computes the loss
    at the padded input resolution.

    Args:
        beta (float): β, the weight of the boundary band. Defaults to 1.2
            (the paper).
        kernel_size (int): Side of the square used for dilation and erosion.
            Defaults to 3 (ours).
        alpha (float): Focal α. Defaults to 0.25, as the focal-loss paper
            that Eq. 12 cites (Lin et al. [38]).
        gamma (float): Focal γ. Defaults to 2.0, as [38].
        reduction (str): Reduction over the batch.
        loss_weight (float): λ of Eq. 14/15. Defaults to 1.0.
    """

    def __init__(
        self,
        beta: float = 1.2,
        kernel_size: int = 3,
        alpha: float = 0.25,
        gamma: float = 2.0,
        reduction: str = 'mean',
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.beta = beta
        self.kernel_size = kernel_size
        self.alpha = alpha
        self.gamma = gamma
        self.eps = 1.0  # ours: the dice's smoothing term
        self.reduction = reduction
        self.loss_weight = loss_weight

    def pixel_weights(self, target: Tensor) -> Tensor:
        """``W = β E + (1 - E)``, shape (B, H, W)."""
        band = boundary_band(target, self.kernel_size)
        return 1.0 + (self.beta - 1.0) * band

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Optional[Tensor] = None,
        avg_factor: Optional[float] = None,
        reduction_override: Optional[str] = None,
    ) -> Tensor:
        """Compute L_p^seg.

        Args:
            pred (Tensor): Mask logits, shape (B, H, W) or (B, 1, H, W).
            target (Tensor): Binary masks, same shape.
            weight (Tensor, optional): Per-sample weights, shape (B,).
            avg_factor (float, optional): Average factor over the batch.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss.
        """
        if pred.dim() == 4:
            pred, target = pred[:, 0], target[:, 0]
        target = (target > 0).to(pred.dtype)
        b = pred.shape[0]
        focal = py_sigmoid_focal_loss(
            pred.reshape(b, -1),
            target.reshape(b, -1),
            gamma=self.gamma,
            alpha=self.alpha,
            reduction='none',
        ).mean(dim=1)
        w = self.pixel_weights(target).reshape(b, -1)
        p = pred.sigmoid().reshape(b, -1)
        g = target.reshape(b, -1)
        inter = (w * p * g).sum(1)
        union = (w * p).sum(1) + (w * g).sum(1)
        dice = 1.0 - (2.0 * inter + self.eps) / (union + self.eps)
        loss = focal + dice
        reduction = reduction_override or self.reduction
        loss = weight_reduce_loss(loss, weight, reduction, avg_factor)
        return self.loss_weight * loss
