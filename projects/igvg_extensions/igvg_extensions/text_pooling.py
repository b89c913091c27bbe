# Copyright (c) mmgres contributors. All rights reserved.
"""Pooling of word features into one sentence feature, padding ignored."""

from typing import Optional

import torch
from torch import Tensor


def masked_text_pool(
    text_feats: Tensor,
    padding_mask: Optional[Tensor] = None,
    mode: str = 'mean',
) -> Tensor:
    """Pool word features over the real (non-padding) tokens.

    Example:
        Words [[1, 2], [3, 4], [9, 9]] with the last one padding give
        [2, 3] with ``'mean'`` and [3, 4] with ``'max'``.

    Args:
        text_feats (Tensor): Shape (B, L, C).
        padding_mask (Tensor, optional): Shape (B, L), True at padding.
            None: every token is real.
        mode (str): ``'mean'`` or ``'max'``.

    Returns:
        Tensor: Shape (B, C). A sentence made only of padding gives zeros.
    """
    if text_feats.dim() != 3:
        raise ValueError(
            f'text_feats must be (B, L, C), got {tuple(text_feats.shape)}.'
        )
    if mode not in ('mean', 'max'):
        raise ValueError(f"mode must be 'mean' or 'max', got {mode!r}.")
    if padding_mask is None:
        padding_mask = text_feats.new_zeros(text_feats.shape[:2], dtype=bool)
    valid = (~padding_mask.bool()).unsqueeze(-1)  # (B, L, 1)
    if mode == 'mean':
        total = (text_feats * valid.to(text_feats.dtype)).sum(1)
        count = valid.sum(1).clamp(min=1).to(text_feats.dtype)
        return total / count
    filled = text_feats.masked_fill(~valid, float('-inf'))
    pooled = filled.max(1).values
    empty = ~valid.any(1)  # (B, 1)
    return torch.where(empty, torch.zeros_like(pooled), pooled)
