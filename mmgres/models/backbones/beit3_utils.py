# Copyright (c) mmgres contributors. All rights reserved.
"""Helpers of the BEiT-3 encoder: the torchscale import and the
position-table interpolation. The official sentencepiece tokenizer lives in
:mod:`mmgres.models.tokenizers.beit3` (``TOKENIZER`` type
``'BEiT3Tokenizer'``)."""

import math
import sys
import types
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['import_torchscale', 'interpolate_vision_pos_embed']

_INSTALL_HINT = (
    'pip install --no-deps torchscale==0.3.0 && pip install fairscale==0.4.0 '
    '(tools/setup_env.sh does this)'
)


def _timm_drop_path_importable() -> bool:
    try:
        from timm.models.layers import drop_path  # noqa: F401
    except Exception:  # timm absent, or present without torchvision
        return False
    return True


def import_torchscale():
    """Import ``torchscale``'s ``BEiT3`` and ``EncoderConfig``.

    torchscale 0.3.0 pins ``timm==0.6.13`` (which needs torchvision, and with
    it a matching torch) but its BEiT-3 import path uses only timm's
    ``drop_path``. mmgres installs torchscale with ``--no-deps``; when timm
    cannot be imported, mmcv's ``drop_path`` (the same stochastic depth:
    keep with probability 1-p, scale by 1/(1-p)) stands in for it while
    torchscale is imported, and the stand-in is removed from
    ``sys.modules`` right after, so nothing else sees a fake ``timm``.

    Returns:
        tuple: ``(torchscale.model.BEiT3.BEiT3,
        torchscale.architecture.config.EncoderConfig)``.
    """
    try:
        import fairscale  # noqa: F401
        import torchscale  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f'BEiT3 needs torchscale and fairscale ({e}): {_INSTALL_HINT}.'
        ) from e
    names = ('timm', 'timm.models', 'timm.models.layers')
    saved = None
    if not _timm_drop_path_importable():
        from mmcv.cnn.bricks.drop import drop_path

        saved = {n: sys.modules.get(n) for n in names}
        layers = types.ModuleType('timm.models.layers')
        layers.drop_path = drop_path
        sys.modules['timm'] = types.ModuleType('timm')
        sys.modules['timm.models'] = types.ModuleType('timm.models')
        sys.modules['timm.models.layers'] = layers
    try:
        from torchscale.architecture.config import EncoderConfig
        from torchscale.model.BEiT3 import BEiT3 as TorchscaleBEiT3
    finally:
        if saved is not None:
            for n, mod in saved.items():
                if mod is None:
                    sys.modules.pop(n, None)
                else:
                    sys.modules[n] = mod
    return TorchscaleBEiT3, EncoderConfig


def interpolate_vision_pos_embed(
    pos_embed: Tensor, num_extra_tokens: int, new_grid: Tuple[int, int]
) -> Tensor:
    """Resize BEiT-3's vision position table to a new patch grid.

    The table has ``num_extra_tokens`` leading rows (2 fairseq offset rows
    and the CLS row, so 3 in BEiT-3) followed by a square patch grid in
    row-major order. The leading rows are kept as they are; the grid is
    resized bicubically (``align_corners=False``), as the official
    ``load_model_and_may_interpolate`` does.

    Example:
        A 224-pixel checkpoint with patch 16 has 3 + 14 * 14 = 199 rows; for
        a 320-pixel model it becomes 3 + 20 * 20 = 403 rows.

    Args:
        pos_embed (Tensor): Shape (num_extra_tokens + S * S, C).
        num_extra_tokens (int): Leading rows to keep.
        new_grid (tuple[int, int]): Patch grid (h, w) of the model.

    Returns:
        Tensor: Shape (num_extra_tokens + h * w, C).
    """
    num, dims = pos_embed.shape
    num_grid = num - num_extra_tokens
    side = int(round(math.sqrt(max(num_grid, 0))))
    if side * side != num_grid or num_grid <= 0:
        raise ValueError(
            f'Vision position table of {num} rows is not {num_extra_tokens} '
            'extra rows plus a square patch grid.'
        )
    if (side, side) == tuple(new_grid):
        return pos_embed
    extra = pos_embed[:num_extra_tokens]
    grid = pos_embed[num_extra_tokens:].reshape(1, side, side, dims)
    grid = F.interpolate(
        grid.permute(0, 3, 1, 2).float(),
        size=tuple(new_grid),
        mode='bicubic',
        align_corners=False,
    )
    grid = grid.permute(0, 2, 3, 1).reshape(-1, dims).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=0)
