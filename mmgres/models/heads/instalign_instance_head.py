# Copyright (c) mmgres contributors. All rights reserved.
"""InstAlign's phrase-conditioned instance segmentation: text-conditioned
Mask2Former queries with relevance logits and Phrase-Object Alignment, and
their instance supervision L_inst."""

import copy
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.layers.transformer import MLP
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.utils import reduce_mean
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.layers import TextConditionedTransformerDecoder
from mmgres.models.losses import phrase_features
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, SampleList


class InstAlignInstanceHead(Mask2FormerHead):
    """The phrase-conditioned instance segmentation of InstAlign (paper
    Sec. 3.1-3.2, supp. 11.2-11.4), the base of :class:`InstAlignHead`,
    which adds instance aggregation, the no-target predictor and the
    ``loss`` and ``predict`` entry points (this class is not registered).

    Built on mmdet's :class:`Mask2FormerHead`: its pixel decoder
    (``MSDeformAttnPixelDecoder``), query embeddings, mask embedding,
    round-robin masked attention and point-sampled Hungarian matching are
    reused. What InstAlign changes:

    * the decoder blocks also run bi-directional object-text attention
      (:class:`TextConditionedDecoderLayer`, supp. 11.2);
    * a relevance logit ``r_i`` per query (an MLP; ``cls_embed``, supp.
      11.3) replaces the class logits;
    * Phrase-Object Alignment: ``p_i = softmax(q_i Tᵀ/√d) T`` (Eq. 2-3),
      ``1 - cos(q_i, p_i)`` (Eq. 4) a loss and, through ``POACost``, a
      matching cost.

    L_inst (supp. 11.4, Eq. 12) at every decoder layer, with ``K`` the
    matched queries of the batch:

    - relevance (``loss_cls``): ``Σ_matched BCE(r_i, 1) + w_no ·
      Σ_unmatched BCE(r_i, 0)`` over ``max(K, 1)``. The paper gives the two
      sums; the weight ``w_no = no_object_weight`` (as Mask2Former weighs
      its no-object class) and the normalisation by the matched count
      (averaged over the ranks, as Mask2Former's mask losses) are ours:
      without them one matched query among 100 gets about a hundredth of
      the push;
    - mask BCE and dice on ``num_points`` uncertainty-sampled points of the
      matched queries (Mask2Former), over ``max(K, 1)``;
    - POA over the matched targets.

    Args:
        in_channels (list[int]): Channels of the backbone's feature maps.
        transformer_decoder (dict): ``num_layers``, ``layer_cfg`` (with
            ``text_attn_cfg``, ``self_attn_cfg``, ``cross_attn_cfg``,
            ``ffn_cfg``) and ``init_cfg``.
        text_channels (int): Width of the text encoder's features.
        feat_channels (int): Width of the queries and pixel features.
        out_channels (int): Width of the mask embeddings.
        loss_cls (dict): The relevance loss (sigmoid BCE), λ_rel.
        loss_poa (dict, optional): POA loss; None disables POA (ablation)
            and freezes the last decoder layer's word update, which
            nothing reads then.
        no_object_weight (float): Weight of the relevance BCE of the
            unmatched queries against the matched ones' 1. Ours, as
            Mask2Former's no-object weight (the paper does not give it).
            Defaults to 0.1.
        **kwargs: :class:`Mask2FormerHead`'s other arguments, with its
            defaults: ``num_queries`` (the paper's N = 100),
            ``num_transformer_feat_level``, ``pixel_decoder``,
            ``enforce_decoder_input_project``, ``positional_encoding``,
            ``loss_mask`` (point-sampled mask BCE, weight 5), ``loss_dice``
            (point-sampled dice, weight 5), ``train_cfg`` (``assigner``,
            ``sampler``, ``num_points``, ``oversample_ratio``,
            ``importance_sample_ratio``), ``test_cfg`` and ``init_cfg``.
    """

    def __init__(
        self,
        in_channels: List[int],
        transformer_decoder: ConfigType,
        text_channels: int = 768,
        feat_channels: int = 256,
        out_channels: int = 256,
        loss_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0
        ),
        loss_poa: OptConfigType = dict(type='POALoss', loss_weight=1.0),
        no_object_weight: float = 0.1,
        **kwargs,
    ) -> None:
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
            transformer_decoder=transformer_decoder,
            loss_cls=loss_cls,
            **kwargs,
        )
        self.transformer_decoder = TextConditionedTransformerDecoder(
            **decoder_cfg
        )
        self.text_channels = text_channels
        self.text_proj = nn.Linear(text_channels, feat_channels)
        # relevance logit r_i (replaces Mask2Former's class logits)
        self.cls_embed = MLP(feat_channels, feat_channels, 1, 2)
        self.loss_poa = MODELS.build(loss_poa) if loss_poa else None
        self.no_object_weight = float(no_object_weight)
        if self.loss_poa is None:
            # the words updated by the last decoder layer are read only by
            # POA's phrases; frozen, as a trainable parameter without a
            # gradient makes DDP fail, and kept for the checkpoints' keys
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

    # ------------------------------------------------------------------ #
    # training targets and losses
    # ------------------------------------------------------------------ #
    def _ground_truth(
        self, data_sample, pad_shape: Sequence[int]
    ) -> InstanceData:
        """The instances of one sample that the queries are matched to:
        the expression's targets (``labels`` 0, ``masks`` in the padded
        frame), none for a no-target sample. Instances with a label other
        than 0 (other objects of the image, which a subclass may add) are
        matched too and take relevance target 0."""
        return referring_targets(data_sample, pad_shape)

    def _get_targets_single(
        self,
        rel: Tensor,
        mask_pred: Tensor,
        query: Tensor,
        phrase: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> Tuple[Tensor, Tensor, Tensor, InstanceData]:
        """Match one image's queries to its ground-truth instances.

        Args:
            rel (Tensor): Relevance logits (Q,).
            mask_pred (Tensor): Mask logits (Q, h, w).
            query (Tensor): Queries (Q, C), for ``POACost``.
            phrase (Tensor): Their phrase features (Q, C).
            gt_instances (InstanceData): From :meth:`_ground_truth`.
            img_meta (dict): The sample's meta information.

        Returns:
            tuple: relevance targets (Q,) (1 for a query matched to a
            target, 0 otherwise), relevance weights (Q,) (1 for matched
            queries, ``no_object_weight`` for the others), the indices of
            the matched queries (K,) and their ground truths (K entries of
            ``gt_instances``).
        """
        num_queries = rel.shape[0]
        targets = rel.new_zeros(num_queries)
        weights = rel.new_full((num_queries,), float(self.no_object_weight))
        num_gts = len(gt_instances)
        if num_gts == 0:
            empty = torch.zeros(0, dtype=torch.long, device=rel.device)
            return targets, weights, empty, gt_instances[empty]
        point_coords = torch.rand((1, self.num_points, 2), device=rel.device)
        mask_points_pred = point_sample(
            mask_pred.unsqueeze(1), point_coords.repeat(num_queries, 1, 1)
        ).squeeze(1)
        gt_points = point_sample(
            gt_instances.masks.unsqueeze(1).float(),
            point_coords.repeat(num_gts, 1, 1),
        ).squeeze(1)
        assign_result = self.assigner.assign(
            pred_instances=InstanceData(
                scores=rel,
                masks=mask_points_pred,
                query_feats=query,
                phrase_feats=phrase,
            ),
            gt_instances=InstanceData(
                labels=gt_instances.labels,
                masks=gt_points,
                # RelevanceCost and POACost: which ground truths are targets
                relevant=gt_instances.labels == 0,
            ),
            img_meta=img_meta,
        )
        pos_inds = torch.nonzero(assign_result.gt_inds > 0).squeeze(1)
        matched = gt_instances[assign_result.gt_inds[pos_inds] - 1]
        targets[pos_inds] = (matched.labels == 0).to(targets.dtype)
        weights[pos_inds] = 1.0
        return targets, weights, pos_inds, matched

    def _loss_layer(
        self,
        rel: Tensor,
        masks: Tensor,
        queries: Tensor,
        phrases: Tensor,
        batch_gt_instances: List[InstanceData],
        batch_img_metas: List[dict],
    ) -> Dict[str, Tensor]:
        """L_inst of one decoder layer (see the class docstring).

        Every rank runs the same collectives (the ``reduce_mean`` of the two
        counts) whatever samples it drew: a rank that skipped one would pair
        its next collective with the other ranks' (gloo: "Received data size
        doesn't match expected size").

        Args:
            rel (Tensor): Relevance logits (B, Q).
            masks (Tensor): Mask logits (B, Q, h, w).
            queries (Tensor): Normalised queries (B, Q, C).
            phrases (Tensor): Their phrase features (B, Q, C).
            batch_gt_instances (list[InstanceData]): From
                :meth:`_ground_truth`.
            batch_img_metas (list[dict]): Meta information.

        Returns:
            dict[str, Tensor]: ``loss_rel``, ``loss_mask``, ``loss_dice``,
            ``loss_poa`` (with ``loss_poa`` set) and what
            :meth:`_loss_matched` adds.
        """
        rel_targets, rel_weights, pos_list, matched = [], [], [], []
        for i in range(rel.shape[0]):
            t, w, pos, gt = self._get_targets_single(
                rel[i],
                masks[i],
                queries[i],
                phrases[i],
                batch_gt_instances[i],
                batch_img_metas[i],
            )
            rel_targets.append(t)
            rel_weights.append(w)
            pos_list.append(pos)
            matched.append(gt)
        num_pos = sum(len(p) for p in pos_list)
        num_total = max(reduce_mean(rel.new_tensor([num_pos])).item(), 1.0)
        matched = InstanceData.cat(matched)
        relevant = matched.labels == 0
        # POA aligns the expression's targets with their phrase only
        num_rel = max(reduce_mean(relevant.sum().float()).item(), 1.0)

        losses = dict(
            loss_rel=self.loss_cls(
                rel.reshape(-1),
                torch.stack(rel_targets).reshape(-1),
                weight=torch.stack(rel_weights).reshape(-1),
                avg_factor=num_total,
            )
        )
        batch_idx = torch.cat(
            [torch.full_like(p, i) for i, p in enumerate(pos_list)]
        )
        pos_idx = torch.cat(pos_list)
        losses.update(
            self._loss_matched(queries[batch_idx, pos_idx], matched, num_total)
        )
        if len(pos_idx) == 0:
            zero = masks.sum() * 0.0
            losses['loss_mask'] = zero
            losses['loss_dice'] = zero
            if self.loss_poa is not None:
                # touch the phrases too: on a batch without targets nothing
                # else reads the words of the last layer, and DDP fails on
                # parameters without a gradient
                losses['loss_poa'] = (queries.sum() + phrases.sum()) * 0.0
            return losses
        pos_masks = masks[batch_idx, pos_idx]
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                pos_masks.unsqueeze(1),
                None,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
            )
            point_targets = point_sample(
                matched.masks.unsqueeze(1).float(), coords
            ).squeeze(1)
        point_preds = point_sample(pos_masks.unsqueeze(1), coords).squeeze(1)
        losses['loss_dice'] = self.loss_dice(
            point_preds, point_targets, avg_factor=num_total
        )
        losses['loss_mask'] = self.loss_mask(
            point_preds.reshape(-1),
            point_targets.reshape(-1),
            avg_factor=num_total * self.num_points,
        )
        if self.loss_poa is not None:
            losses['loss_poa'] = self.loss_poa(
                queries[batch_idx[relevant], pos_idx[relevant]],
                phrases[batch_idx[relevant], pos_idx[relevant]],
                avg_factor=num_rel,
            )
        return losses

    def _loss_matched(
        self, queries: Tensor, matched: InstanceData, avg_factor: float
    ) -> Dict[str, Tensor]:
        """Further losses of one decoder layer on the matched queries
        (K, C) and their ground truths ``matched`` (K entries), normalised
        by ``avg_factor`` (the matched count averaged over the ranks). None
        in InstAlign; a hook for subclasses."""
        return dict()

    def loss_by_feat(
        self, outs: dict, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """L_inst of every decoder layer (deep supervision); the loss of
        :class:`InstAlignHead` adds the losses of its last-layer outputs.

        Args:
            outs (dict): The output of :meth:`forward`.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                and ``metainfo`` (``batch_input_shape``).

        Returns:
            dict[str, Tensor]: ``loss_rel``, ``loss_mask``, ``loss_dice``,
            ``loss_poa`` of the last decoder layer and ``d{i}.*`` of the
            others.
        """
        metas = [s.metainfo for s in batch_data_samples]
        pad_shape = metas[0]['batch_input_shape']
        gts = [self._ground_truth(s, pad_shape) for s in batch_data_samples]
        losses = dict()
        num_layers = len(outs['rel'])
        for i in range(num_layers):
            layer_losses = self._loss_layer(
                outs['rel'][i],
                outs['masks'][i],
                outs['queries'][i],
                outs['phrases'][i],
                gts,
                metas,
            )
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses.update({prefix + k: v for k, v in layer_losses.items()})
        return losses
