# Copyright (c) mmgres contributors. All rights reserved.
"""Mask2Former decoder blocks with bi-directional object-text attention."""

from typing import Optional, Tuple

from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.models.layers.transformer import (
    Mask2FormerTransformerDecoder,
    Mask2FormerTransformerDecoderLayer,
)
from mmengine.model import ModuleList
from torch import Tensor

from mmgres.utils import ConfigType


class TextConditionedDecoderLayer(Mask2FormerTransformerDecoderLayer):
    """One InstAlign decoder block.

    In order (InstAlign, Sec. 3.1, after Mask2Former):

    1. masked cross-attention from the object queries to one visual scale;
    2. bi-directional object-text cross-attention: the queries attend to the
       words and the words attend to the queries, both from this block's
       inputs, which updates the text features as well;
    3. self-attention among the queries;
    4. FFN.

    Each step is post-normalised as in Mask2Former.

    Args:
        text_attn_cfg (dict): Config of the two text attentions
            (:class:`mmcv.cnn.bricks.transformer.MultiheadAttention`,
            ``batch_first=True``).
        **kwargs: Passed to
            :class:`mmdet.models.layers.Mask2FormerTransformerDecoderLayer`
            (``self_attn_cfg``, ``cross_attn_cfg``, ``ffn_cfg``,
            ``norm_cfg``).
    """

    def __init__(
        self,
        text_attn_cfg: ConfigType = dict(
            embed_dims=256, num_heads=8, dropout=0.0, batch_first=True
        ),
        **kwargs,
    ) -> None:
        self.text_attn_cfg = dict(text_attn_cfg)
        self.text_attn_cfg.setdefault('batch_first', True)
        super().__init__(**kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        self.query_to_text_attn = MultiheadAttention(**self.text_attn_cfg)
        self.text_to_query_attn = MultiheadAttention(**self.text_attn_cfg)
        self.query_text_norm = build_norm_layer(
            self.norm_cfg, self.embed_dims
        )[1]
        self.text_norm = build_norm_layer(self.norm_cfg, self.embed_dims)[1]

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        text_feats: Tensor,
        query_pos: Optional[Tensor] = None,
        key_pos: Optional[Tensor] = None,
        cross_attn_mask: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
        **kwargs,
    ) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query (Tensor): Object queries, shape (B, Q, C).
            key (Tensor): Visual tokens of one scale, shape (B, HW, C).
            value (Tensor): Same as ``key``.
            text_feats (Tensor): Word features, shape (B, L, C).
            query_pos (Tensor, optional): Query positions, shape (B, Q, C).
            key_pos (Tensor, optional): Visual positions, shape (B, HW, C).
            cross_attn_mask (Tensor, optional): Mask2Former's attention mask,
                shape (B * num_heads, Q, HW), True where attention is
                blocked.
            text_padding_mask (Tensor, optional): Shape (B, L), True at
                padding tokens.
            key_padding_mask (Tensor, optional): Shape (B, HW).

        Returns:
            tuple[Tensor, Tensor]: Updated queries (B, Q, C) and word
            features (B, L, C).
        """
        query = self.cross_attn(
            query=query,
            key=key,
            value=value,
            query_pos=query_pos,
            key_pos=key_pos,
            attn_mask=cross_attn_mask,
            key_padding_mask=key_padding_mask,
            **kwargs,
        )
        query = self.norms[0](query)

        # words carry no positional encoding: add the queries' own here
        # (mmcv would otherwise warn that the key's is missing)
        new_query = self.query_to_text_attn(
            query=query if query_pos is None else query + query_pos,
            key=text_feats,
            value=text_feats,
            identity=query,
            key_padding_mask=text_padding_mask,
        )
        new_text = self.text_to_query_attn(
            query=text_feats,
            key=query,
            value=query,
            key_pos=query_pos,
        )
        query = self.query_text_norm(new_query)
        text_feats = self.text_norm(new_text)

        query = self.self_attn(
            query=query,
            key=query,
            value=query,
            query_pos=query_pos,
            key_pos=query_pos,
            **kwargs,
        )
        query = self.norms[1](query)
        query = self.ffn(query)
        query = self.norms[2](query)
        return query, text_feats


class TextConditionedTransformerDecoder(Mask2FormerTransformerDecoder):
    """A stack of :class:`TextConditionedDecoderLayer` with Mask2Former's
    final LayerNorm (``post_norm``). The head runs the layers one by one,
    predicting masks after each (deep supervision)."""

    def _init_layers(self) -> None:
        self.layers = ModuleList(
            [
                TextConditionedDecoderLayer(**self.layer_cfg)
                for _ in range(self.num_layers)
            ]
        )
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(self.post_norm_cfg, self.embed_dims)[
            1
        ]
