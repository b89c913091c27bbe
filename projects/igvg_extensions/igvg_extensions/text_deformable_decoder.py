# Copyright (c) mmgres contributors. All rights reserved.
"""Deformable-DETR decoder whose queries also attend to the words."""

from typing import Optional

from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.models.layers.transformer import (
    DeformableDetrTransformerDecoder,
    DeformableDetrTransformerDecoderLayer,
)
from mmengine.model import ModuleList
from torch import Tensor

from mmgres.utils import ConfigType


class TextDeformableDetrDecoderLayer(DeformableDetrTransformerDecoderLayer):
    """mmdet's Deformable-DETR decoder layer with a word cross-attention.

    In order: self-attention among the queries, cross-attention from the
    queries to the words (new), multi-scale deformable cross-attention to
    the image, FFN; each post-normalised. Without ``text_feats`` the word
    step is skipped and the layer is mmdet's.

    Not IGVG's: in the paper the BEiT-3 encoder has already fused the words
    into the visual tokens the decoder reads. The tiny random BEiT-3 of the
    synthetic configs fuses them poorly, so its queries get the words
    directly, before the self-attention of the next layer compares them.

    Args:
        text_attn_cfg (dict): Config of the word attention
            (:class:`mmcv.cnn.bricks.transformer.MultiheadAttention`);
            ``embed_dims`` and ``batch_first=True`` are filled in.
        **kwargs: Passed to mmdet's ``DeformableDetrTransformerDecoderLayer``.
    """

    def __init__(
        self, text_attn_cfg: ConfigType = dict(num_heads=8), **kwargs
    ):
        self.text_attn_cfg = dict(text_attn_cfg)
        super().__init__(**kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        cfg = dict(self.text_attn_cfg)
        cfg.setdefault('embed_dims', self.embed_dims)
        cfg['batch_first'] = True
        self.text_attn = MultiheadAttention(**cfg)
        self.text_norm = build_norm_layer(self.norm_cfg, self.embed_dims)[1]

    def forward(
        self,
        query: Tensor,
        key: Optional[Tensor] = None,
        value: Optional[Tensor] = None,
        query_pos: Optional[Tensor] = None,
        key_pos: Optional[Tensor] = None,
        self_attn_mask: Optional[Tensor] = None,
        cross_attn_mask: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
        text_feats: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
        **kwargs,
    ) -> Tensor:
        """Forward one layer.

        Args:
            query (Tensor): (B, Q, C).
            text_feats (Tensor, optional): The words, (B, L, C).
            text_padding_mask (Tensor, optional): (B, L), True at padding.
            Others: as mmdet's ``DetrTransformerDecoderLayer.forward``
            (``spatial_shapes``, ``level_start_index``, ``valid_ratios``
            and ``reference_points`` in ``kwargs``).

        Returns:
            Tensor: (B, Q, C).
        """
        query = self.self_attn(
            query=query,
            key=query,
            value=query,
            query_pos=query_pos,
            key_pos=query_pos,
            attn_mask=self_attn_mask,
        )
        query = self.norms[0](query)
        if text_feats is not None:
            query = self.text_attn(
                query=query,
                key=text_feats,
                value=text_feats,
                query_pos=query_pos,
                key_padding_mask=text_padding_mask,
            )
            query = self.text_norm(query)
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
        query = self.norms[1](query)
        query = self.ffn(query)
        return self.norms[2](query)


class TextDeformableDetrTransformerDecoder(DeformableDetrTransformerDecoder):
    """mmdet's ``DeformableDetrTransformerDecoder`` built from
    :class:`TextDeformableDetrDecoderLayer`.

    ``forward`` is mmdet's; ``text_feats`` and ``text_padding_mask`` passed
    to it reach every layer through its ``**kwargs``.

    Args:
        text_attn_cfg (dict): Word-attention config of every layer.
        **kwargs: Passed to mmdet's ``DeformableDetrTransformerDecoder``
            (``num_layers``, ``layer_cfg``, ``return_intermediate``, ...).
    """

    def __init__(
        self, text_attn_cfg: ConfigType = dict(num_heads=8), **kwargs
    ):
        self.text_attn_cfg = dict(text_attn_cfg)
        super().__init__(**kwargs)

    def _init_layers(self) -> None:
        self.layers = ModuleList(
            [
                TextDeformableDetrDecoderLayer(
                    text_attn_cfg=self.text_attn_cfg, **self.layer_cfg
                )
                for _ in range(self.num_layers)
            ]
        )
        self.embed_dims = self.layers[0].embed_dims
        if self.post_norm_cfg is not None:
            raise ValueError(f'There is no post_norm in {self._get_name()}')
