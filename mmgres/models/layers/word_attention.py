# Copyright (c) mmgres contributors. All rights reserved.
"""Builder of the "attend to the words once" block used by several heads."""

from typing import Tuple

import torch.nn as nn
from mmcv.cnn.bricks.transformer import MultiheadAttention


def build_word_attention(
    cfg: dict, embed_dims: int
) -> Tuple[MultiheadAttention, nn.LayerNorm]:
    """An mmcv ``MultiheadAttention`` (batch first, ``embed_dims`` wide
    unless ``cfg`` says otherwise; residual included, as mmcv's) and the
    ``LayerNorm`` applied after it.

    Used by the ``igvg_extensions`` project's head (queries attend to the
    words before classification) and by the ``instalign_extensions``
    project's head (pixels attend to the words). The caller keeps both
    modules under its own attribute names, so checkpoints keep their keys.

    Args:
        cfg (dict): ``MultiheadAttention`` kwargs, e.g.
            ``dict(num_heads=4)``.
        embed_dims (int): Default width, and the LayerNorm's.
    """
    cfg = dict(cfg)
    cfg.setdefault('embed_dims', embed_dims)
    cfg.setdefault('batch_first', True)
    return MultiheadAttention(**cfg), nn.LayerNorm(embed_dims)
