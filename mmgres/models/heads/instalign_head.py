# Copyright (c) mmgres contributors. All rights reserved.
"""InstAlign's head: text-conditioned Mask2Former queries, relevance,
Phrase-Object Alignment, instance aggregation and the no-target predictor."""

import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.layers.transformer import MLP
from mmdet.structures.mask import mask2bbox
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.layers import TextConditionedTransformerDecoder
from mmgres.models.losses import phrase_features
from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
)
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .instalign_head_loss import InstAlignLossMixin


@MODELS.register_module()
class InstAlignHead(InstAlignLossMixin, Mask2FormerHead):
    """InstAlign head (instance-aware GRES with Phrase-Object Alignment).

    Built on mmdet's :class:`Mask2FormerHead`: its pixel decoder
    (``MSDeformAttnPixelDecoder``), query embeddings, mask embedding,
    round-robin masked attention and point-sampled Hungarian matching are
    reused. What InstAlign adds (paper Sec. 3):

    * the decoder blocks also run bi-directional object-text attention
      (:class:`TextConditionedDecoderLayer`, supp. 11.2);
    * a relevance logit ``r_i`` per query (an MLP; ``cls_embed``, supp.
      11.3), trained with BCE: 1 for matched queries, 0 for the others;
    * Phrase-Object Alignment: ``p_i = softmax(q_i Tᵀ/√d) T`` (Eq. 2-3)
      and ``L_poa = mean(1 - cos(q_i, p_i))`` (Eq. 4) over matched
      queries, at every layer; ``POACost`` brings it into the matching;
    * instance aggregation (IA, Eq. 5): the merged logit
      ``M = Σ_i σ(r_i) · PReLU(m_i)``, BCE against the merged mask
      (Eq. 6);
    * the no-target predictor (Eq. 7): ``g = Σ σ(r_i) q_i / Σ σ(r_i)``,
      ``NT = MLP([g; s])`` with the sentence embedding ``s``, BCE.

    Total loss (Eq. 8): ``λ_inst L_inst + λ_mask L_mask + λ_nt L_nt``; the
    λ are the ``loss_weight`` of the loss configs (relevance, mask, dice
    and POA make up L_inst at every decoder layer; ``loss_merged`` is
    L_mask and ``loss_nt`` is L_nt, on the last layer). The losses are
    described in :class:`InstAlignLossMixin`.

    Args:
        in_channels (list[int]): Channels of the backbone's feature maps.
        text_channels (int): Width of the text encoder's features.
        feat_channels (int): Width of the queries and pixel features.
        out_channels (int): Width of the mask embeddings.
        num_queries (int): Number of object queries N (paper: 100).
        num_transformer_feat_level (int): Visual scales the decoder visits.
        pixel_decoder (dict): Config of the pixel decoder.
        enforce_decoder_input_project (bool): See Mask2FormerHead.
        transformer_decoder (dict): ``num_layers``, ``layer_cfg`` (with
            ``text_attn_cfg``, ``self_attn_cfg``, ``cross_attn_cfg``,
            ``ffn_cfg``) and ``init_cfg``.
        positional_encoding (dict): Config of the positional encoding.
        loss_cls (dict): The relevance loss (sigmoid BCE), λ_rel.
        loss_mask (dict): Point-sampled mask BCE.
        loss_dice (dict): Point-sampled dice loss.
        loss_poa (dict, optional): POA loss; None disables POA (ablation)
            and freezes the last decoder layer's word update, which
            nothing reads then.
        loss_merged (dict): BCE of the aggregated mask.
        loss_nt (dict): BCE of the no-target predictor.
        no_object_weight (float): Weight of the relevance BCE of the
            unmatched queries against the matched ones' 1. Ours, as
            Mask2Former's no-object weight (the paper does not give it).
            Defaults to 0.1.
        merged_class_weight (Sequence[float]): Pixel weights (background,
            target) of the merged-mask BCE. ReLA's class weights, which the
            paper's L_mask adopts. Defaults to (0.9, 1.1).
        aggregation (str): ``'relevance'`` (IA, the paper) or ``'best'``
            (ablation, Table 3(b): the single most relevant instance's
            mask; IA's PReLU is then frozen).
        nt_pooling (str): ``'relevance'`` (the paper) or ``'mean'``
            (ablation, Table 3(c): plain query averaging).
        train_cfg (dict, optional): ``assigner``, ``sampler``,
            ``num_points``, ``oversample_ratio``,
            ``importance_sample_ratio``.
        test_cfg (dict, optional): ``score_thr`` (relevance threshold for
            output instances, default 0.5), ``mask_thr`` (0.5), ``nt_thr``
            (0.5), ``max_per_image`` (defaults to num_queries).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: List[int],
        text_channels: int = 768,
        feat_channels: int = 256,
        out_channels: int = 256,
        num_queries: int = 100,
        num_transformer_feat_level: int = 3,
        pixel_decoder: ConfigType = ...,
        enforce_decoder_input_project: bool = False,
        transformer_decoder: ConfigType = ...,
        positional_encoding: ConfigType = dict(num_feats=128, normalize=True),
        loss_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0
        ),
        loss_mask: ConfigType = dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0,
        ),
        loss_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0,
        ),
        loss_poa: OptConfigType = dict(type='POALoss', loss_weight=1.0),
        loss_merged: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        loss_nt: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        no_object_weight: float = 0.1,
        merged_class_weight: Sequence[float] = (0.9, 1.1),
        aggregation: str = 'relevance',
        nt_pooling: str = 'relevance',
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
        **kwargs,
    ) -> None:
        if aggregation not in ('relevance', 'best'):
            raise ValueError(f'Unknown aggregation {aggregation!r}')
        if nt_pooling not in ('relevance', 'mean'):
            raise ValueError(f'Unknown nt_pooling {nt_pooling!r}')
        if len(merged_class_weight) != 2:
            raise ValueError(
                'merged_class_weight must be (background, target), got '
                f'{merged_class_weight!r}'
            )
        transformer_decoder = ConfigDict(copy.deepcopy(transformer_decoder))
        decoder_cfg = copy.deepcopy(transformer_decoder)
        # Mask2FormerHead builds a plain Mask2Former decoder from this config;
        # the text attention config is ours, so it is set aside and the
        # decoder replaced below.
        transformer_decoder.layer_cfg.pop('text_attn_cfg', None)
        loss_cls = ConfigDict(loss_cls)
        loss_cls.setdefault('class_weight', None)
        super().__init__(
            in_channels=in_channels,
            feat_channels=feat_channels,
            out_channels=out_channels,
            num_things_classes=1,
            num_stuff_classes=0,
            num_queries=num_queries,
            num_transformer_feat_level=num_transformer_feat_level,
            pixel_decoder=pixel_decoder,
            enforce_decoder_input_project=enforce_decoder_input_project,
            transformer_decoder=transformer_decoder,
            positional_encoding=positional_encoding,
            loss_cls=loss_cls,
            loss_mask=loss_mask,
            loss_dice=loss_dice,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
            **kwargs,
        )
        self.transformer_decoder = TextConditionedTransformerDecoder(
            **decoder_cfg
        )
        self.text_channels = text_channels
        self.text_proj = nn.Linear(text_channels, feat_channels)
        # relevance logit r_i (replaces Mask2Former's class logits)
        self.cls_embed = MLP(feat_channels, feat_channels, 1, 2)
        self.ia_act = nn.PReLU(init=0.25)
        self.nt_embed = MLP(feat_channels + text_channels, feat_channels, 1, 2)
        self.loss_poa = MODELS.build(loss_poa) if loss_poa else None
        self.loss_merged = MODELS.build(loss_merged)
        self.loss_nt = MODELS.build(loss_nt)
        self.no_object_weight = float(no_object_weight)
        self.merged_class_weight = tuple(float(w) for w in merged_class_weight)
        self.aggregation = aggregation
        self.nt_pooling = nt_pooling
        self.test_cfg = ConfigDict(test_cfg or {})
        # Parts that no output reads in this configuration are frozen (a
        # trainable parameter without a gradient makes DDP fail); they stay
        # built, so that checkpoints keep their keys.
        if aggregation == 'best':
            # the merged mask is the best query's, without IA's PReLU
            self.ia_act.requires_grad_(False)
        if self.loss_poa is None:
            # the words updated by the last decoder layer are read only by
            # POA's phrases
            last = self.transformer_decoder.layers[-1]
            last.text_to_query_attn.requires_grad_(False)
            last.text_norm.requires_grad_(False)

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    def _forward_head(
        self,
        decoder_out: Tensor,
        mask_feature: Tensor,
        attn_mask_target_size: Tuple[int, int],
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Mask2FormerHead's per-layer prediction, plus the normalised
        queries.

        Returns:
            tuple: relevance logits (B, Q), mask logits (B, Q, h, w),
            attention mask (B * num_heads, Q, h'w') and the normalised
            queries (B, Q, C).
        """
        query = self.transformer_decoder.post_norm(decoder_out)
        mask_embed = self.mask_embed(query)
        mask_pred = torch.einsum('bqc,bchw->bqhw', mask_embed, mask_feature)
        rel = self.cls_embed(query).squeeze(-1)
        attn_mask = F.interpolate(
            mask_pred,
            attn_mask_target_size,
            mode='bilinear',
            align_corners=False,
        )
        attn_mask = (
            attn_mask.flatten(2)
            .unsqueeze(1)
            .repeat((1, self.num_heads, 1, 1))
            .flatten(0, 1)
        )
        attn_mask = (attn_mask.sigmoid() < 0.5).detach()
        return rel, mask_pred, attn_mask, query

    def condition_pixels(
        self,
        mask_features: Tensor,
        decoder_inputs: List[Tensor],
        decoder_pos: List[Tensor],
        text_feats: Tensor,
        text_pad: Tensor,
    ) -> Tuple[Tensor, List[Tensor]]:
        """The pixel features the decoder reads, before the first layer.

        InstAlign reads the pixel decoder's features as they are; a hook
        for subclasses (e.g. to make them text-aware).

        Args:
            mask_features (Tensor): F₁ of Eq. 9, (B, C, h, w).
            decoder_inputs (list[Tensor]): The decoder's visual inputs,
                one (B, h_i w_i, C) per scale.
            decoder_pos (list[Tensor]): Their sine positions, same shapes.
            text_feats (Tensor): Projected word features (B, L, C).
            text_pad (Tensor): (B, L), True at padding.

        Returns:
            tuple: ``mask_features`` and ``decoder_inputs``.
        """
        return mask_features, decoder_inputs

    def forward(self, x: List[Tensor], text: Dict[str, Tensor]) -> dict:
        """Run the pixel decoder and the text-conditioned decoder.

        Args:
            x (list[Tensor]): Multi-scale backbone features (B, C_i, H_i, W_i).
            text (dict): Output of :class:`HFTextEncoder`: ``token_feats``
                (B, L, C_t), ``padding_mask`` (B, L), ``sentence_feat``
                (B, C_t).

        Returns:
            dict: Per decoder layer (``num_layers + 1`` entries, the first
            before any layer): ``rel`` (B, Q), ``masks`` (B, Q, h, w),
            ``queries`` (B, Q, C), ``phrases`` (B, Q, C); and
            ``mask_features`` (B, C, h, w).
        """
        batch_size = x[0].shape[0]
        mask_features, multi_scale_memorys = self.pixel_decoder(x)
        decoder_inputs, decoder_pos = [], []
        for i in range(self.num_transformer_feat_level):
            decoder_input = self.decoder_input_projs[i](multi_scale_memorys[i])
            decoder_input = decoder_input.flatten(2).permute(0, 2, 1)
            decoder_input = decoder_input + self.level_embed.weight[i].view(
                1, 1, -1
            )
            mask = decoder_input.new_zeros(
                (batch_size,) + multi_scale_memorys[i].shape[-2:],
                dtype=torch.bool,
            )
            pos = self.decoder_positional_encoding(mask)
            decoder_inputs.append(decoder_input)
            decoder_pos.append(pos.flatten(2).permute(0, 2, 1))

        text_feats = self.text_proj(text['token_feats'])
        text_pad = text['padding_mask']
        mask_features, decoder_inputs = self.condition_pixels(
            mask_features, decoder_inputs, decoder_pos, text_feats, text_pad
        )
        query_feat = self.query_feat.weight.unsqueeze(0).repeat(
            (batch_size, 1, 1)
        )
        query_embed = self.query_embed.weight.unsqueeze(0).repeat(
            (batch_size, 1, 1)
        )

        outs = dict(rel=[], masks=[], queries=[], phrases=[])

        def record(rel, mask_pred, query, text_feats):
            outs['rel'].append(rel)
            outs['masks'].append(mask_pred)
            outs['queries'].append(query)
            outs['phrases'].append(
                phrase_features(query, text_feats, text_pad)
            )

        rel, mask_pred, attn_mask, query = self._forward_head(
            query_feat, mask_features, multi_scale_memorys[0].shape[-2:]
        )
        record(rel, mask_pred, query, text_feats)
        for i in range(self.num_transformer_decoder_layers):
            level_idx = i % self.num_transformer_feat_level
            # a query whose mask is empty everywhere attends everywhere
            mask_sum = (attn_mask.sum(-1) != attn_mask.shape[-1]).unsqueeze(-1)
            attn_mask = attn_mask & mask_sum
            layer = self.transformer_decoder.layers[i]
            query_feat, text_feats = layer(
                query=query_feat,
                key=decoder_inputs[level_idx],
                value=decoder_inputs[level_idx],
                text_feats=text_feats,
                query_pos=query_embed,
                key_pos=decoder_pos[level_idx],
                cross_attn_mask=attn_mask,
                text_padding_mask=text_pad,
            )
            next_size = multi_scale_memorys[
                (i + 1) % self.num_transformer_feat_level
            ].shape[-2:]
            rel, mask_pred, attn_mask, query = self._forward_head(
                query_feat, mask_features, next_size
            )
            record(rel, mask_pred, query, text_feats)
        outs['mask_features'] = mask_features
        return outs

    def aggregate(self, rel: Tensor, masks: Tensor) -> Tensor:
        """Instance aggregation on logits (paper Eq. 5).

        Args:
            rel (Tensor): Relevance logits, shape (B, Q).
            masks (Tensor): Instance mask logits, shape (B, Q, h, w).

        Returns:
            Tensor: Merged mask logits, shape (B, h, w):
            ``Σ_i σ(r_i) PReLU(m_i)`` (``aggregation='relevance'``) or the
            mask of the most relevant query (``'best'``).
        """
        if self.aggregation == 'best':
            idx = rel.argmax(dim=1)
            return masks[torch.arange(masks.shape[0]), idx]
        weights = rel.sigmoid()[:, :, None, None]
        return (weights * self.ia_act(masks)).sum(dim=1)

    def no_target_logit(
        self, rel: Tensor, queries: Tensor, sentence: Tensor
    ) -> Tensor:
        """No-target logit ``MLP([g; s])`` (paper Eq. 7), shape (B,).

        ``g`` pools the queries (B, Q, C) by relevance σ(r) (B, Q), or by a
        plain mean (``nt_pooling='mean'``); ``s`` is the sentence (B, C_t).
        """
        if self.nt_pooling == 'mean':
            pooled = queries.mean(dim=1)
        else:
            w = rel.sigmoid().unsqueeze(-1)
            pooled = (w * queries).sum(1) / w.sum(1).clamp(min=1e-6)
        return self.nt_embed(torch.cat([pooled, sentence], dim=-1)).squeeze(-1)

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def masks_to_frame(
        self,
        inst_logits: Tensor,
        merged_logit: Tensor,
        meta: dict,
        pad_shape: Sequence[int],
        rescale: bool,
        mask_thr: float,
    ) -> Tuple[Tensor, Tensor]:
        """Binary output masks of one sample in its output frame.

        Args:
            inst_logits (Tensor): Logits of the kept instances (N, h, w).
            merged_logit (Tensor): IA's merged logits (h, w).
            meta (dict): The sample's meta information.
            pad_shape (Sequence[int]): The padded batch shape.
            rescale (bool): The original frame, else ``img_shape``.
            mask_thr (float): Probability threshold.

        Returns:
            tuple[Tensor, Tensor]: Instance masks (N, H, W) and the merged
            mask (H, W), bool; the merged mask is IA's output (the paper).
        """
        logits = torch.cat([inst_logits, merged_logit[None]])
        binary = mask_logits_to_frame(
            logits, meta, pad_shape, rescale, mask_thr
        )
        return binary[:-1], binary[-1]

    def predict(
        self,
        x: List[Tensor],
        text: Dict[str, Tensor],
        batch_data_samples: SampleList,
        rescale: bool = True,
        rescale_boxes: Optional[bool] = None,
    ) -> List[dict]:
        """Predict instances, the merged mask and no-target.

        Args:
            x (list[Tensor]): Multi-scale image features.
            text (dict): Output of the text encoder.
            batch_data_samples (list[DetDataSample]): The batch.
            rescale (bool): Masks in the original frame (``ori_shape``),
                else in the ``img_shape`` frame.
            rescale_boxes (bool, optional): The boxes' frame; None: as
                ``rescale``.

        Returns:
            list[dict]: Per sample: ``pred_instances`` (InstanceData with
            ``masks`` (N, H, W) bool, ``bboxes`` (N, 4) from the masks,
            ``scores`` (N,) relevance, ``labels``), ``merged`` (H, W) bool,
            ``no_target`` (bool) and ``nt_score`` (float). H, W is the
            original image size when ``rescale`` is True, else
            ``img_shape``.
        """
        if rescale_boxes is None:
            rescale_boxes = rescale
        metas = [s.metainfo for s in batch_data_samples]
        outs = self(x, text)
        rel, masks = outs['rel'][-1], outs['masks'][-1]
        merged = self.aggregate(rel, masks)
        nt_prob = self.no_target_logit(
            rel, outs['queries'][-1], text['sentence_feat']
        ).sigmoid()
        score_thr = self.test_cfg.get('score_thr', 0.5)
        mask_thr = self.test_cfg.get('mask_thr', 0.5)
        nt_thr = self.test_cfg.get('nt_thr', 0.5)
        max_per_image = self.test_cfg.get('max_per_image', self.num_queries)
        pad_shape = metas[0]['batch_input_shape']
        results = []
        for i, meta in enumerate(metas):
            scores = rel[i].sigmoid()
            keep = torch.nonzero(scores > score_thr).squeeze(1)
            keep = keep[scores[keep].argsort(descending=True)][:max_per_image]
            inst_masks, merged_mask = self.masks_to_frame(
                masks[i, keep], merged[i], meta, pad_shape, rescale, mask_thr
            )
            # the boxes are the masks' boxes, moved to their own frame
            bboxes = boxes_to_frame(
                mask2bbox(inst_masks), meta, rescale, rescale_boxes
            )
            results.append(
                dict(
                    pred_instances=InstanceData(
                        masks=inst_masks,
                        bboxes=bboxes,
                        scores=scores[keep],
                        labels=torch.zeros_like(keep),
                    ),
                    merged=merged_mask,
                    no_target=bool(nt_prob[i] > nt_thr),
                    nt_score=float(nt_prob[i]),
                )
            )
        return results
