# Copyright (c) mmgres contributors. All rights reserved.
"""Text-to-image cross-attention that also returns its attention logits."""

import math
from typing import Optional, Tuple

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class ScoreMapCrossAttention(BaseModule):
    """Selected text tokens attend to the image tokens (IGVG AQG, Eq. 1).

    Multi-head attention with the text tokens as queries and the image
    tokens as keys/values. Besides the attended queries, it returns the
    attention **logits** ``q·k / sqrt(d_head)`` averaged over the heads:
    one map per query, M_attn of shape (B, N, h*w). These logits (not the
    softmax) make the score map, so that ``sigmoid`` of it is a per-pixel
    probability that minimap supervision can push to 0 or 1.

    The query update is a post-norm block as in DETR's decoder::

        q' = LN(q + Proj(softmax(logits) · V));   q'' = LN(FFN(q'))

    with the image positional encoding added to the keys only. With
    ``with_query_update=False`` only the logits are computed (no value,
    output or FFN weights are built), for AQG without ITQ, where the
    attended queries are not used.

    Args:
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        attn_drop (float): Dropout on the attention weights.
        with_query_update (bool): Build and run the query update.
        ffn_cfg (dict): :class:`mmcv.cnn.bricks.transformer.FFN` config
            (``embed_dims`` is filled in).
        norm_cfg (dict): Norm config. Defaults to LN.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        attn_drop: float = 0.0,
        with_query_update: bool = True,
        ffn_cfg: ConfigType = dict(feedforward_channels=512, ffn_drop=0.0),
        norm_cfg: ConfigType = dict(type='LN'),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        assert embed_dims % num_heads == 0
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.with_query_update = with_query_update
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(embed_dims, embed_dims)
        if with_query_update:
            self.v_proj = nn.Linear(embed_dims, embed_dims)
            self.out_proj = nn.Linear(embed_dims, embed_dims)
            self.attn_drop = nn.Dropout(attn_drop)
            self.norm_attn = build_norm_layer(norm_cfg, embed_dims)[1]
            self.ffn = FFN(**dict(ffn_cfg, embed_dims=embed_dims))
            self.norm_ffn = build_norm_layer(norm_cfg, embed_dims)[1]

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, heads, T, C / heads)."""
        bsz, length, _ = x.shape
        x = x.view(bsz, length, self.num_heads, self.head_dims)
        return x.transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        key_pos: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
    ) -> Tuple[Optional[Tensor], Tensor]:
        """
        Args:
            query (Tensor): Text queries, shape (B, N, C).
            key (Tensor): Image tokens, shape (B, HW, C); also the values.
            key_pos (Tensor, optional): Positional encoding of the image
                tokens, shape (B, HW, C), added to the keys.
            key_padding_mask (Tensor, optional): Shape (B, HW), True at
                padded image tokens; they get no attention weight (their
                logits are returned unchanged).

        Returns:
            tuple[Tensor | None, Tensor]: The attended queries (B, N, C),
            None without query update, and the head-averaged attention
            logits (B, N, HW).
        """
        k_in = key if key_pos is None else key + key_pos
        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(k_in))
        logits = q @ k.transpose(-2, -1) / math.sqrt(self.head_dims)
        attn_logits = logits.mean(dim=1)  # (B, N, HW)
        if not self.with_query_update:
            return None, attn_logits

        if key_padding_mask is not None:
            logits = logits.masked_fill(
                key_padding_mask[:, None, None, :].bool(), float('-inf')
            )
        weights = self.attn_drop(logits.softmax(dim=-1))
        v = self._split_heads(self.v_proj(key))
        out = (weights @ v).transpose(1, 2).flatten(2)  # (B, N, C)
        query = self.norm_attn(query + self.out_proj(out))
        query = self.norm_ffn(self.ffn(query))
        return query, attn_logits
