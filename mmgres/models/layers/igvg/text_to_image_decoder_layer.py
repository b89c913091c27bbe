# Copyright (c) mmgres contributors. All rights reserved.
"""InstanceVG's query generator: one DETR decoder layer, text to image."""

from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class TextToImageDecoderLayer(BaseModule):
    """The attention step of AQG as InstanceVG's released code runs it.

    A drop-in for :class:`ScoreMapCrossAttention` inside
    :class:`AdaptiveQueryGenerator` (same call, same outputs), written
    from InstanceVG's ``AQSM.T2I_decoder``: a one-layer DETR decoder
    (detrex ``DetrTransformerDecoder``, operation order self-attention,
    norm, cross-attention, norm, FFN, norm, then a final post-norm). The
    content queries are **zeros** and the selected text tokens T are
    their positional queries::

        x0 = 0
        x1 = LN0(x0 + SA(q=x0+T, k=x0+T, v=x0))   # v = 0: a constant
        x2 = LN1(x1 + CA(q=x1+T, k=F+P, v=F))
        x3 = LN2(x2 + FFN(x2))
        out = LN_post(x3)

    with F the image tokens and P their sine positional encoding. The
    second output is the cross-attention's **probabilities** (softmax over
    the image tokens, averaged over the heads, as ``nn.MultiheadAttention``
    returns them), not its logits: AQG max-pools them over the selected
    tokens into the score map, and the point selector and the minimap loss
    then apply a sigmoid to those probabilities (InstanceVG's code does
    exactly this; the paper describes a logit score map, see
    :class:`ScoreMapCrossAttention`).

    Example:
        One head, C = 1, every projection weight 1 and bias 0, and keys
        F + P = [0, ln 3] on two image tokens. A one-channel LayerNorm
        returns its bias (0), so the cross-attention query is T itself and
        the logits are T * [0, ln 3]: T = 0 gives the probabilities
        [0.5, 0.5], T = 1 gives softmax([0, ln 3]) = [0.25, 0.75].

    Args:
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8 (InstanceVG).
        attn_drop (float): Dropout on the attention weights of both
            attentions. Defaults to 0.1 (InstanceVG).
        ffn_cfg (dict): mmcv ``FFN`` config (``embed_dims`` is filled in;
            the identity is added inside the FFN). Defaults to width 512,
            dropout 0.1 (InstanceVG).
        with_query_update (bool): Must be True: the attention weights
            depend on the self-attention and norm before them, so there is
            no cheaper "logits only" mode (use
            :class:`ScoreMapCrossAttention` for the no-ITQ ablation).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        attn_drop: float = 0.1,
        ffn_cfg: ConfigType = dict(feedforward_channels=512, ffn_drop=0.1),
        with_query_update: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not with_query_update:
            raise ValueError(
                'TextToImageDecoderLayer always updates its queries (its '
                'attention depends on them); for AQG without ITQ use '
                'ScoreMapCrossAttention.'
            )
        if embed_dims % num_heads:
            raise ValueError(
                f'embed_dims={embed_dims} is not divisible by '
                f'num_heads={num_heads}.'
            )
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.self_attn = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=attn_drop, batch_first=True
        )
        self.cross_attn = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=attn_drop, batch_first=True
        )
        self.ffn = FFN(**dict(ffn_cfg, embed_dims=embed_dims))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.post_norm = nn.LayerNorm(embed_dims)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        key_pos: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query (Tensor): The selected text tokens T, shape (B, N, C);
                they are the positional queries of zero content queries.
            key (Tensor): Image tokens F, shape (B, HW, C); also the values.
            key_pos (Tensor, optional): Positional encoding P of the image
                tokens, shape (B, HW, C), added to the keys.
            key_padding_mask (Tensor, optional): Shape (B, HW), True at
                padded image tokens (no attention weight).

        Returns:
            tuple[Tensor, Tensor]: The decoded queries (B, N, C) and the
            head-averaged cross-attention probabilities (B, N, HW).
        """
        pos = query
        content = torch.zeros_like(query)
        q = content + pos
        # the values are the zero content queries (as InstanceVG)
        out, _ = self.self_attn(q, q, content, need_weights=False)
        x = self.norms[0](content + out)
        k = key if key_pos is None else key + key_pos
        pad = None if key_padding_mask is None else key_padding_mask.bool()
        out, probs = self.cross_attn(
            x + pos,
            k,
            key,
            key_padding_mask=pad,
            need_weights=True,
            average_attn_weights=True,
        )
        x = self.norms[1](x + out)
        x = self.norms[2](self.ffn(x))
        return self.post_norm(x), probs
