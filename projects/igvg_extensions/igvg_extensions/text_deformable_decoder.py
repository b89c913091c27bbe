# Copyright (c) mmgres contributors. All rights reserved.
"""Deformable-DETR decoder whose queries also attend to the words."""

from typing import Optional, Tuple

from mmdet.models.layers.transformer import (
    DeformableDetrTransformerDecoder,
    DeformableDetrTransformerDecoderLayer,
)
from mmengine.model import ModuleList
from torch import nn

from mmgres.models.layers import build_word_attention
from mmgres.utils import ConfigType


class TextDeformableDetrDecoderLayer(DeformableDetrTransformerDecoderLayer):
    """mmdet's Deformable-DETR decoder layer with a word cross-attention.

    In order: self-attention among the queries, cross-attention from the
    queries to the words (new), multi-scale deformable cross-attention to
    the image, FFN; each post-normalised. The forward is mmdet's: it passes
    ``text_feats`` and ``text_padding_mask`` on to its attentions, and a
    forward pre-hook of the deformable attention runs the word step on the
    query it receives. Without ``text_feats`` the word step is skipped and
    the layer is mmdet's.

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
        self.text_attn, self.text_norm = build_word_attention(
            self.text_attn_cfg, self.embed_dims
        )
        self.cross_attn.register_forward_pre_hook(
            self._attend_to_words, with_kwargs=True
        )

    def _attend_to_words(
        self, cross_attn: nn.Module, args: tuple, kwargs: dict
    ) -> Optional[Tuple[tuple, dict]]:
        """Before the deformable attention: the (B, Q, C) ``query`` attends
        to ``text_feats`` (B, L, C), not to the words where
        ``text_padding_mask`` (B, L) is True, with ``query_pos`` added to
        it (residual, then LayerNorm). Nothing without ``text_feats``."""
        text_feats = kwargs.get('text_feats')
        if text_feats is None:
            return None
        query, query_pos = kwargs['query'], kwargs.get('query_pos')
        # words carry no positional encoding: add the queries' own here
        # (mmcv would otherwise warn that the key's is missing)
        query = self.text_attn(
            query=query if query_pos is None else query + query_pos,
            key=text_feats,
            value=text_feats,
            identity=query,
            key_padding_mask=kwargs.get('text_padding_mask'),
        )
        return args, dict(kwargs, query=self.text_norm(query))


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
        # mmdet's, with this project's layer
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
