# Copyright (c) mmgres contributors. All rights reserved.
"""InstAlign's head: text-conditioned Mask2Former queries, relevance,
Phrase-Object Alignment, instance aggregation and the no-target predictor."""

import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.layers.transformer import MLP, coordinate_to_encoding
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.structures.bbox import (
    bbox_cxcywh_to_xyxy,
    bbox_xyxy_to_cxcywh,
    get_box_tensor,
)
from mmdet.structures.mask import mask2bbox
from mmdet.utils import reduce_mean
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.layers import (
    RelativePositionQueryAttention,
    TextConditionedTransformerDecoder,
    build_word_attention,
)
from mmgres.models.losses import phrase_features
from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
)
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList


@MODELS.register_module()
class InstAlignHead(Mask2FormerHead):
    """InstAlign head (instance-aware GRES with Phrase-Object Alignment).

    Built on mmdet's :class:`Mask2FormerHead`: its pixel decoder
    (``MSDeformAttnPixelDecoder``), query embeddings, mask embedding,
    round-robin masked attention and point-sampled Hungarian matching are
    reused. What InstAlign adds:

    * the decoder blocks also run bi-directional object-text attention
      (:class:`TextConditionedDecoderLayer`);
    * a relevance logit ``r_i`` per query (an MLP; ``cls_embed``), trained
      with BCE: 1 for matched queries, 0 for the others;
    * Phrase-Object Alignment: ``p_i = softmax(q_i Tᵀ/√d) T`` and
      ``L_poa = mean(1 - cos(q_i, p_i))`` over matched queries, at every
      layer; ``POACost`` brings it into the matching;
    * instance aggregation (IA): the merged logit
      ``M = Σ_i σ(r_i) · PReLU(m_i)``, BCE against the merged mask;
    * the no-target predictor: ``g = Σ σ(r_i) q_i / Σ σ(r_i)``,
      ``NT = MLP([g; s])`` with the sentence embedding ``s``, BCE.

    Total loss: ``λ_inst L_inst + λ_mask L_mask + λ_nt L_nt``; the λ are the
    ``loss_weight`` of the loss configs (relevance/mask/dice/POA make up
    L_inst at every decoder layer; ``loss_merged`` is L_mask and
    ``loss_nt`` is L_nt, on the last layer).

    Args:
        in_channels (list[int]): Channels of the backbone's feature maps.
        text_channels (int): Width of the text encoder's features.
        feat_channels (int): Width of the queries and pixel features.
        out_channels (int): Width of the mask embeddings.
        num_queries (int): Number of object queries N.
        num_transformer_feat_level (int): Visual scales the decoder visits.
        pixel_decoder (dict): Config of the pixel decoder.
        enforce_decoder_input_project (bool): See Mask2FormerHead.
        transformer_decoder (dict): ``num_layers``, ``layer_cfg`` (with
            ``text_attn_cfg``, ``self_attn_cfg``, ``cross_attn_cfg``,
            ``ffn_cfg``) and ``init_cfg``.
        positional_encoding (dict): Config of the positional encoding.
        loss_cls (dict): The relevance loss (sigmoid BCE).
        loss_mask (dict): Point-sampled mask BCE.
        loss_dice (dict): Point-sampled dice loss.
        loss_poa (dict, optional): POA loss; None disables POA (ablation)
            and, unless ``word_and_relevance``, freezes the last decoder
            layer's word update, which nothing reads then.
        loss_merged (dict): BCE of the aggregated mask.
        loss_nt (dict): BCE of the no-target predictor.
        loss_merged_dice (dict, optional): A dice loss on the aggregated
            mask, added to ``loss_merged``'s BCE. Ours (the paper supervises
            IA with BCE only); BCE averaged over every pixel gives small
            objects little weight. Defaults to None (off, as in the paper).
        nt_pos_weight (float): Weight of no-target samples in ``loss_nt``
            (target samples weigh 1). Ours, for data where no-target
            expressions are rare; 1.0 (the default) is the paper's plain BCE.
        pixel_text_attn_cfg (dict, optional): If given, the pixel features
            (the decoder's visual inputs and the mask features) attend to the
            words once, before the decoder (residual + LayerNorm), so that
            the visual side is text-aware too. Ours: the paper's decoder
            attends "between queries, visual features and text features"
            without spelling out this step. Defaults to None (off).
        mask_feature_pos (bool): If True, a learned 1×1 projection of the
            sine positional encoding is added to the mask features F₁, so
            that ``m_i = MLP(q_i)·F₁`` can tell apart two identical objects
            at different places ("the circle on the left"). Ours: Swin
            features carry no absolute position. Defaults to False (the
            paper).
        memory_pos (bool): If True, a learned linear projection of the sine
            positional encoding is added to the decoder's visual inputs
            (the multi-scale memories), which are the cross-attention
            *values*. Mask2Former adds positions to the keys only, so the
            query content learns what its object looks like but not where
            it is; "the small shape at the bottom", "the leftmost D" and "the
            Ds left of the A" need the where. Ours. Defaults to False (the
            paper).
        query_mask_pos (bool): If True, each decoder layer's query
            positions are the learned query embeddings plus an MLP of the
            sine encoding of the centroid of the query's current mask
            (detached), as DAB-DETR's dynamic anchors. The self-attention
            among the queries then sees where each instance is, which
            "the leftmost D" needs. Ours. Defaults to False (the paper).
        relation_attn_cfg (dict, optional): If given (kwargs of
            :class:`RelativePositionQueryAttention`, e.g.
            ``dict(num_heads=4)``), the relevance logits and the no-target
            pooling read each layer's queries after one self-attention
            among them that sees the centroids of their current masks
            (detached): its keys and values carry each other query's
            offset, its queries their own place. "The D left of the A",
            "the leftmost D" and "the D on the left" compare instances by
            where they are. The masks, POA and categories still read the
            plain queries. Ours. Defaults to None (the paper).
        spatial_relevance (bool): If True, the relevance logits and the
            no-target pooling read each layer's queries through a residual
            MLP (then LayerNorm) of ``[q_i; PE(c_i); W s]``: the query, the
            sine encoding of the centroid ``c_i`` of its current mask
            (detached) and the projected sentence embedding ``s``. The
            plain relevance ``MLP(q_i)`` is linear in whatever the query
            holds, and Mask2Former's queries take their content from the
            cross-attention values, which carry no position, so "the D at
            the top" against "the D at the bottom" (one D) needs the query
            to have learned where it is *and* how that matches the words;
            the MLP sees both side by side. Applied after
            ``relation_attn_cfg`` when both are given. The masks, POA and
            categories still read the plain queries. Ours. Defaults to
            False (the paper).
        word_and_relevance (bool): If True, a soft AND over the words is
            added to each relevance logit:
            ``Σ_j g_j · log σ((W_q q_i)·(W_w w_j)/√C + b)``, with
            ``g_j = σ(MLP(w_j))`` a learned weight per word (0 on padding)
            and ``w_j`` the words as the decoder layer left them. The
            plain relevance reads the query after attention over the words,
            a weighted *average* of them, so "the blue triangle" half
            matches a blue circle; the sum of log-probabilities is a
            product, so one word the instance does not match (``triangle``)
            vetoes it. The weights start near 0 (``g_j ≈ 0.02``) so the
            term opens as it learns which words must match. It reads the
            queries that the relevance reads (after ``relation_attn_cfg``
            and ``spatial_relevance``). Ours. Defaults to False (the
            paper).
        context_instances (bool): If True, every object of the image is a
            ground truth of the instance matching, not only the targets:
            matched queries learn the masks of all objects, and their
            relevance target is 1 for the expression's targets and 0 for
            the other objects (``RelevanceCost`` and ``POACost`` see which
            is which; POA is applied to the targets only). The samples
            must carry ``gt_context_instances``: build the training
            dataset and ``LoadReferringAnnotations`` with
            ``with_context=True``. Ours, as Mask2Former learns instances:
            the queries then separate objects and include the distractors
            that relational expressions compare against. Defaults to
            False (the paper: the targets only).
        num_context_classes (int): With ``context_instances``, the number
            of object categories (``gt_context_instances.categories``, the
            dataset's COCO categories): a linear classifier on the queries
            is then trained, at every decoder layer, to give each matched
            query its object's category (``loss_context_cls``), as
            Mask2Former's class head. Ours: on the synthetic benchmark the
            features of a model trained on the expressions alone hardly
            tell the shapes apart. 0 (the default) turns it off.
        loss_context_cls (dict): The category loss (softmax CE over the
            matched queries).
        loss_query_bbox (dict, optional): If given (e.g. mmdet's
            ``L1Loss``), an MLP on the queries predicts, at every decoder
            layer, each matched query's box (normalised cx, cy, w, h of its
            ground-truth instance, from ``bboxes`` and the image shape),
            trained with this loss, as DETR's and Mask DINO's box heads.
            The query content then has to hold where its object is, which
            the self-attention among queries and the relevance read for
            "the leftmost D" or "the D left of the A". Ours. Defaults to
            None (off, the paper).
        loss_query_iou (dict, optional): With ``loss_query_bbox``, a
            GIoU-type loss on the same boxes (xyxy). Defaults to None.
        aggregation (str): ``'relevance'`` (IA, the paper) or ``'best'``
            (ablation: the single most relevant instance's mask; IA's
            PReLU is then frozen).
        nt_pooling (str): ``'relevance'`` (the paper) or ``'mean'``
            (ablation: plain query averaging).
        nt_deep_supervision (bool): If True, the no-target predictor is
            also trained on the queries of every earlier decoder layer
            (``d{i}.loss_nt`` for layers 1 to L-1, as the instance losses
            are), not only on the last one. Ours. Defaults to False (the
            paper: the last layer).
        nt_relevance_stats (bool): If True, the no-target MLP also reads
            two statistics of the relevance probabilities σ(r) (B, Q): their
            maximum and their sum (the expected number of targets). The
            relevance-weighted pooling is normalised by Σσ(r), so without
            them the MLP cannot see whether any instance is relevant at
            all. Ours. Defaults to False (the paper).
        train_cfg (dict, optional): ``assigner``, ``sampler``, ``num_points``,
            ``oversample_ratio``, ``importance_sample_ratio``.
        test_cfg (dict, optional): ``score_thr`` (relevance threshold for
            output instances, default 0.5), ``mask_thr`` (0.5),
            ``nt_thr`` (0.5), ``max_per_image`` (defaults to num_queries),
            ``merge_mode``: ``'ia'`` (default, the paper: the merged mask
            is the IA output) or ``'union'`` (ours: the union of the
            output instances' masks; IA is still trained).
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
        loss_merged_dice: OptConfigType = None,
        nt_pos_weight: float = 1.0,
        pixel_text_attn_cfg: OptConfigType = None,
        mask_feature_pos: bool = False,
        memory_pos: bool = False,
        query_mask_pos: bool = False,
        relation_attn_cfg: OptConfigType = None,
        spatial_relevance: bool = False,
        word_and_relevance: bool = False,
        context_instances: bool = False,
        num_context_classes: int = 0,
        loss_context_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0
        ),
        loss_query_bbox: OptConfigType = None,
        loss_query_iou: OptConfigType = None,
        aggregation: str = 'relevance',
        nt_pooling: str = 'relevance',
        nt_deep_supervision: bool = False,
        nt_relevance_stats: bool = False,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
        **kwargs,
    ) -> None:
        if aggregation not in ('relevance', 'best'):
            raise ValueError(f'Unknown aggregation {aggregation!r}')
        if nt_pooling not in ('relevance', 'mean'):
            raise ValueError(f'Unknown nt_pooling {nt_pooling!r}')
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
        self.nt_relevance_stats = bool(nt_relevance_stats)
        self.nt_embed = MLP(
            feat_channels + text_channels + 2 * self.nt_relevance_stats,
            feat_channels,
            1,
            2,
        )
        self.loss_poa = MODELS.build(loss_poa) if loss_poa else None
        self.loss_merged = MODELS.build(loss_merged)
        self.loss_nt = MODELS.build(loss_nt)
        self.loss_merged_dice = (
            MODELS.build(loss_merged_dice) if loss_merged_dice else None
        )
        merge = (test_cfg or {}).get('merge_mode', 'ia')
        if merge not in ('ia', 'union'):
            raise ValueError(
                f"test_cfg.merge_mode must be 'ia' or 'union', got {merge!r}"
            )
        if nt_pos_weight <= 0:
            raise ValueError(f'nt_pos_weight must be > 0, got {nt_pos_weight}')
        self.nt_pos_weight = float(nt_pos_weight)
        self.context_instances = context_instances
        if num_context_classes < 0:
            raise ValueError(
                f'num_context_classes must be >= 0, got {num_context_classes}'
            )
        if num_context_classes and not context_instances:
            raise ValueError(
                'num_context_classes needs context_instances=True (the '
                'categories come with gt_context_instances)'
            )
        self.num_context_classes = num_context_classes
        if num_context_classes:
            self.context_cls_embed = nn.Linear(
                feat_channels, num_context_classes
            )
            self.loss_context_cls = MODELS.build(loss_context_cls)
        else:
            self.context_cls_embed = None
            self.loss_context_cls = None
        if loss_query_iou and not loss_query_bbox:
            raise ValueError('loss_query_iou needs loss_query_bbox')
        self.query_box_embed = None
        if loss_query_bbox:
            self.query_box_embed = MLP(feat_channels, feat_channels, 4, 3)
        self.loss_query_bbox = (
            MODELS.build(loss_query_bbox) if loss_query_bbox else None
        )
        self.loss_query_iou = (
            MODELS.build(loss_query_iou) if loss_query_iou else None
        )
        self.aggregation = aggregation
        self.nt_pooling = nt_pooling
        self.nt_deep_supervision = bool(nt_deep_supervision)
        self.test_cfg = ConfigDict(test_cfg or {})
        if pixel_text_attn_cfg is not None:
            self.pixel_text_attn, self.pixel_text_norm = build_word_attention(
                pixel_text_attn_cfg, feat_channels
            )
        else:
            self.pixel_text_attn = None
        self.query_pos_mlp = (
            MLP(feat_channels, feat_channels, feat_channels, 2)
            if query_mask_pos
            else None
        )
        self.mask_pos_proj = (
            nn.Conv2d(feat_channels, out_channels, 1)
            if mask_feature_pos
            else None
        )
        self.memory_pos_proj = (
            nn.Linear(feat_channels, feat_channels) if memory_pos else None
        )
        self.relation_attn = (
            RelativePositionQueryAttention(
                feat_channels, **dict(relation_attn_cfg)
            )
            if relation_attn_cfg is not None
            else None
        )
        if spatial_relevance:
            self.spatial_sentence_proj = nn.Linear(
                text_channels, feat_channels
            )
            self.spatial_mlp = MLP(
                3 * feat_channels, 2 * feat_channels, feat_channels, 2
            )
            self.spatial_norm = nn.LayerNorm(feat_channels)
        else:
            self.spatial_mlp = None
        if word_and_relevance:
            self.word_and_query = nn.Linear(feat_channels, feat_channels)
            self.word_and_word = nn.Linear(feat_channels, feat_channels)
            self.word_and_gate = MLP(feat_channels, feat_channels, 1, 2)
            nn.init.constant_(self.word_and_gate.layers[-1].bias, -4.0)
            self.word_and_bias = nn.Parameter(torch.tensor(2.0))
        else:
            self.word_and_gate = None
        # Parts that no output reads in this configuration are frozen (a
        # trainable parameter without a gradient makes DDP fail); they stay
        # built, so that checkpoints keep their keys.
        if aggregation == 'best':
            # the merged mask is the best query's, without IA's PReLU
            self.ia_act.requires_grad_(False)
        if self.loss_poa is None and self.word_and_gate is None:
            # the words updated by the last decoder layer are read only by
            # POA's phrases and by word_and_relevance
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
        sentence: Optional[Tensor] = None,
        words: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Mask2FormerHead's per-layer prediction, plus the normalised
        queries. ``sentence`` (B, C_t) is needed by ``spatial_relevance``,
        ``words`` (features (B, L, C), padding mask (B, L)) by
        ``word_and_relevance``.

        Returns:
            tuple: relevance logits (B, Q), mask logits (B, Q, h, w),
            attention mask (B * num_heads, Q, h'w'), the normalised
            queries (B, Q, C) and the queries the relevance read (B, Q, C;
            the same tensor without ``relation_attn``).
        """
        query = self.transformer_decoder.post_norm(decoder_out)
        mask_embed = self.mask_embed(query)
        mask_pred = torch.einsum('bqc,bchw->bqhw', mask_embed, mask_feature)
        rel_query = query
        if self.relation_attn is not None:
            rel_query = self.relation_attn(
                query, self.mask_centroids(mask_pred.detach())
            )
        if self.spatial_mlp is not None:
            rel_query = self.spatial_relevance_query(
                rel_query, mask_pred, sentence
            )
        rel = self.cls_embed(rel_query).squeeze(-1)
        if self.word_and_gate is not None:
            if words is None:
                raise ValueError('word_and_relevance needs the words')
            rel = rel + self.word_and_logit(rel_query, *words)
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
        return rel, mask_pred, attn_mask, query, rel_query

    def spatial_relevance_query(
        self, query: Tensor, mask_pred: Tensor, sentence: Tensor
    ) -> Tensor:
        """``LN(q + MLP([q; PE(c); W s]))`` of ``spatial_relevance``.

        Args:
            query (Tensor): Queries (B, Q, C).
            mask_pred (Tensor): Their mask logits (B, Q, h, w); only the
                centroids are read, without gradient.
            sentence (Tensor): Sentence embeddings (B, C_t).

        Returns:
            Tensor: (B, Q, C).
        """
        if sentence is None:
            raise ValueError('spatial_relevance needs the sentence embedding')
        centres = self.mask_centroids(mask_pred.detach())
        pos = coordinate_to_encoding(centres, num_feats=query.shape[-1] // 2)
        sent = self.spatial_sentence_proj(sentence)[:, None].expand_as(query)
        delta = self.spatial_mlp(torch.cat([query, pos, sent], dim=-1))
        return self.spatial_norm(query + delta)

    def word_and_logit(
        self, query: Tensor, words: Tensor, padding_mask: Tensor
    ) -> Tensor:
        """The soft AND of ``word_and_relevance``.

        Args:
            query (Tensor): Queries (B, Q, C).
            words (Tensor): Word features (B, L, C).
            padding_mask (Tensor): (B, L), True at padding.

        Returns:
            Tensor: (B, Q), ``Σ_j g_j log σ(s_ij)`` (at most 0).
        """
        q = self.word_and_query(query)
        w = self.word_and_word(words)
        match = torch.einsum('bqc,blc->bql', q, w) / q.shape[-1] ** 0.5
        gate = self.word_and_gate(words).squeeze(-1).sigmoid()
        gate = gate.masked_fill(padding_mask, 0.0)
        log_p = F.logsigmoid(match + self.word_and_bias)
        return (gate[:, None, :] * log_p).sum(-1)

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
            ``queries`` (B, Q, C), ``rel_queries`` (B, Q, C, what the
            relevance read), ``phrases`` (B, Q, C); and
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
            pos = pos.flatten(2).permute(0, 2, 1)
            if self.memory_pos_proj is not None:
                decoder_input = decoder_input + self.memory_pos_proj(pos)
            decoder_inputs.append(decoder_input)
            decoder_pos.append(pos)

        if self.mask_pos_proj is not None:
            pos = self.decoder_positional_encoding(
                mask_features.new_zeros(
                    (batch_size,) + mask_features.shape[-2:], dtype=torch.bool
                )
            )
            mask_features = mask_features + self.mask_pos_proj(pos)
        text_feats = self.text_proj(text['token_feats'])
        text_pad = text['padding_mask']
        if self.pixel_text_attn is not None:
            decoder_inputs = [
                self._attend_words(v, pos, text_feats, text_pad)
                for v, pos in zip(decoder_inputs, decoder_pos)
            ]
            b, c, h, w = mask_features.shape
            flat = mask_features.flatten(2).permute(0, 2, 1)
            flat = self._attend_words(flat, None, text_feats, text_pad)
            mask_features = flat.permute(0, 2, 1).reshape(b, c, h, w)
        query_feat = self.query_feat.weight.unsqueeze(0).repeat(
            (batch_size, 1, 1)
        )
        query_embed = self.query_embed.weight.unsqueeze(0).repeat(
            (batch_size, 1, 1)
        )

        outs = dict(rel=[], masks=[], queries=[], rel_queries=[], phrases=[])

        def record(rel, mask_pred, query, rel_query, text_feats):
            outs['rel'].append(rel)
            outs['rel_queries'].append(rel_query)
            outs['masks'].append(mask_pred)
            outs['queries'].append(query)
            outs['phrases'].append(
                phrase_features(query, text_feats, text_pad)
            )

        sentence = text.get('sentence_feat')
        rel, mask_pred, attn_mask, query, rel_query = self._forward_head(
            query_feat,
            mask_features,
            multi_scale_memorys[0].shape[-2:],
            sentence,
            (text_feats, text_pad),
        )
        record(rel, mask_pred, query, rel_query, text_feats)
        for i in range(self.num_transformer_decoder_layers):
            level_idx = i % self.num_transformer_feat_level
            query_pos = query_embed
            if self.query_pos_mlp is not None:
                centres = self.mask_centroids(mask_pred.detach())
                query_pos = query_embed + self.query_pos_mlp(
                    coordinate_to_encoding(
                        centres, num_feats=query_embed.shape[-1] // 2
                    )
                )
            # a query whose mask is empty everywhere attends everywhere
            mask_sum = (attn_mask.sum(-1) != attn_mask.shape[-1]).unsqueeze(-1)
            attn_mask = attn_mask & mask_sum
            layer = self.transformer_decoder.layers[i]
            query_feat, text_feats = layer(
                query=query_feat,
                key=decoder_inputs[level_idx],
                value=decoder_inputs[level_idx],
                text_feats=text_feats,
                query_pos=query_pos,
                key_pos=decoder_pos[level_idx],
                cross_attn_mask=attn_mask,
                text_padding_mask=text_pad,
            )
            next_size = multi_scale_memorys[
                (i + 1) % self.num_transformer_feat_level
            ].shape[-2:]
            rel, mask_pred, attn_mask, query, rel_query = self._forward_head(
                query_feat,
                mask_features,
                next_size,
                sentence,
                (text_feats, text_pad),
            )
            record(rel, mask_pred, query, rel_query, text_feats)
        outs['mask_features'] = mask_features
        return outs

    @staticmethod
    def mask_centroids(mask_pred: Tensor) -> Tensor:
        """Centroids of soft masks.

        Args:
            mask_pred (Tensor): Mask logits, shape (B, Q, h, w).

        Returns:
            Tensor: (B, Q, 2) centres ``(x, y)`` in [0, 1] (pixel centres
            at ``(i + 0.5) / size``), weighted by ``sigmoid(mask_pred)``;
            an all-zero mask gives the image centre.
        """
        prob = mask_pred.sigmoid()
        h, w = prob.shape[-2:]
        xs = (torch.arange(w, device=prob.device, dtype=prob.dtype) + 0.5) / w
        ys = (torch.arange(h, device=prob.device, dtype=prob.dtype) + 0.5) / h
        total = prob.sum((-2, -1))
        cx = (prob.sum(-2) * xs).sum(-1)
        cy = (prob.sum(-1) * ys).sum(-1)
        centre = torch.stack([cx, cy], -1) / total.clamp(min=1e-6)[..., None]
        empty = (total < 1e-6)[..., None]
        return torch.where(empty, torch.full_like(centre, 0.5), centre)

    def _attend_words(
        self,
        pixels: Tensor,
        pos: Optional[Tensor],
        text_feats: Tensor,
        text_pad: Tensor,
    ) -> Tensor:
        """Pixels (B, N, C) attend to the words (B, L, C); residual + LN."""
        out = self.pixel_text_attn(
            query=pixels if pos is None else pixels + pos,
            key=text_feats,
            value=text_feats,
            identity=pixels,
            key_padding_mask=text_pad,
        )
        return self.pixel_text_norm(out)

    def aggregate(self, rel: Tensor, masks: Tensor) -> Tensor:
        """Instance aggregation on logits.

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
        """No-target logit ``MLP([g; s])``, shape (B,)
        (``MLP([g; s; max σ(r); Σ σ(r)])`` with ``nt_relevance_stats``).

        ``g`` pools the queries (B, Q, C) by relevance σ(r) (B, Q), or by a
        plain mean (``nt_pooling='mean'``); ``s`` is the sentence (B, C_t).
        """
        if self.nt_pooling == 'mean':
            pooled = queries.mean(dim=1)
        else:
            w = rel.sigmoid().unsqueeze(-1)
            pooled = (w * queries).sum(1) / w.sum(1).clamp(min=1e-6)
        feats = [pooled, sentence]
        if self.nt_relevance_stats:
            prob = rel.sigmoid()
            feats += [prob.max(dim=1, keepdim=True)[0], prob.sum(1, True)]
        return self.nt_embed(torch.cat(feats, dim=-1)).squeeze(-1)

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    @staticmethod
    def _gt_instances(
        data_sample, pad_shape, context: bool = False
    ) -> InstanceData:
        """Ground truth of the matching, masks padded to ``pad_shape``;
        ``relevant`` marks the expression's targets (all of them unless
        ``context``)."""
        if context:
            if 'gt_context_instances' not in data_sample:
                raise KeyError(
                    'InstAlignHead(context_instances=True) needs '
                    '"gt_context_instances" in the training samples; build '
                    'the dataset and LoadReferringAnnotations with '
                    'with_context=True'
                )
            gt = data_sample.gt_context_instances
            relevant = gt.labels == 0
            categories = gt.get('categories', torch.zeros_like(gt.labels))
        else:
            gt = data_sample.gt_instances
            relevant = torch.ones_like(gt.labels, dtype=torch.bool)
            categories = torch.zeros_like(gt.labels)
        masks = gt.masks
        if hasattr(masks, 'to_tensor'):
            device = gt.labels.device
            masks = masks.to_tensor(dtype=torch.bool, device=device)
        masks = masks.bool()
        h, w = masks.shape[-2:]
        if (h, w) != tuple(pad_shape):
            masks = F.pad(masks, (0, pad_shape[1] - w, 0, pad_shape[0] - h))
        bboxes = gt.get('bboxes', None)
        if bboxes is None:
            bboxes = mask2bbox(masks)
        return InstanceData(
            labels=gt.labels.new_zeros(len(gt)).long(),
            masks=masks,
            relevant=relevant.to(masks.device),
            categories=categories.long().to(masks.device),
            bboxes=get_box_tensor(bboxes).float().to(masks.device),
        )

    def _get_targets_single(
        self,
        rel: Tensor,
        mask_pred: Tensor,
        query: Tensor,
        phrase: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> Tuple[Tensor, Tensor, InstanceData]:
        """Match one image's queries to its ground-truth instances.

        Returns:
            tuple: relevance targets (Q,), indices of matched queries (K,)
            and their ground truths (K entries of ``gt_instances``:
            ``masks``, ``relevant``, ``categories``, ``bboxes``).
        """
        num_queries = rel.shape[0]
        num_gts = len(gt_instances)
        targets = rel.new_zeros(num_queries)
        if num_gts == 0:
            empty = torch.zeros(0, dtype=torch.long, device=rel.device)
            return targets, empty, gt_instances[empty]
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
                relevant=gt_instances.relevant,
            ),
            img_meta=img_meta,
        )
        pos_inds = torch.nonzero(assign_result.gt_inds > 0).squeeze(1)
        matched = gt_instances[assign_result.gt_inds[pos_inds] - 1]
        targets[pos_inds] = matched.relevant.to(targets.dtype)
        return targets, pos_inds, matched

    def _loss_layer(
        self,
        rel: Tensor,
        masks: Tensor,
        queries: Tensor,
        phrases: Tensor,
        batch_gt_instances: List[InstanceData],
        batch_img_metas: List[dict],
    ) -> Dict[str, Tensor]:
        """L_inst of one decoder layer: relevance, mask BCE, dice, POA."""
        num_imgs = rel.shape[0]
        rel_targets, pos_list, matched = [], [], []
        for i in range(num_imgs):
            t, pos, gt = self._get_targets_single(
                rel[i],
                masks[i],
                queries[i],
                phrases[i],
                batch_gt_instances[i],
                batch_img_metas[i],
            )
            rel_targets.append(t)
            pos_list.append(pos)
            matched.append(gt)
        rel_targets = torch.stack(rel_targets)
        num_pos = sum(len(p) for p in pos_list)
        num_total = max(reduce_mean(rel.new_tensor([num_pos])).item(), 1.0)

        losses = dict()
        losses['loss_rel'] = self.loss_cls(
            rel.reshape(-1, 1),
            rel_targets.reshape(-1).long().logical_not().long(),
            avg_factor=rel.numel(),
        )
        batch_idx = torch.cat(
            [torch.full_like(p, i) for i, p in enumerate(pos_list)]
        )
        pos_idx = torch.cat(pos_list)
        pos_masks = masks[batch_idx, pos_idx]
        pos_targets = torch.cat([gt.masks for gt in matched])
        if self.context_cls_embed is not None:
            # category of every matched query (all objects of the image)
            logits = self.context_cls_embed(queries[batch_idx, pos_idx])
            losses['loss_context_cls'] = (
                self.loss_context_cls(
                    logits,
                    torch.cat([gt.categories for gt in matched]),
                    avg_factor=num_total,
                )
                if len(logits)
                else self.context_cls_embed(queries).sum() * 0.0
            )
        if self.query_box_embed is not None:
            losses.update(
                self._loss_query_boxes(
                    queries[batch_idx, pos_idx],
                    matched,
                    batch_img_metas,
                    num_total,
                )
            )
        if self.loss_poa is not None:
            # POA aligns the expression's targets with their phrase only.
            # Every rank takes part in this reduce_mean, with or without
            # targets: a rank that skipped it would pair its next
            # collective with the other ranks' one (gloo: "Received data
            # size doesn't match expected size").
            relevant = torch.cat([gt.relevant for gt in matched])
            num_rel = max(reduce_mean(relevant.sum().float()).item(), 1.0)
        if pos_masks.shape[0] == 0:
            zero = masks.sum() * 0.0
            losses['loss_mask'] = zero
            losses['loss_dice'] = zero
            if self.loss_poa is not None:
                # touch the phrases too: on a batch without targets nothing
                # else reads the words of the last layer, and DDP fails on
                # parameters without a gradient
                losses['loss_poa'] = (queries.sum() + phrases.sum()) * 0.0
            return losses
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                pos_masks.unsqueeze(1),
                None,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
            )
            point_targets = point_sample(
                pos_targets.unsqueeze(1).float(), coords
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

    def _loss_query_boxes(
        self,
        pos_queries: Tensor,
        matched: List[InstanceData],
        batch_img_metas: List[dict],
        num_total: float,
    ) -> Dict[str, Tensor]:
        """Box losses of the matched queries (K, C) against their ground
        truths' boxes, normalised by each image's shape."""
        # mmdet's box losses give 0 for K = 0
        pred = self.query_box_embed(pos_queries).sigmoid()
        target = torch.cat(
            [
                gt.bboxes
                / gt.bboxes.new_tensor(meta['img_shape'][::-1]).repeat(2)
                for gt, meta in zip(matched, batch_img_metas)
            ]
        )
        losses = dict(
            loss_query_bbox=self.loss_query_bbox(
                pred, bbox_xyxy_to_cxcywh(target), avg_factor=num_total
            )
        )
        if self.loss_query_iou is not None:
            losses['loss_query_iou'] = self.loss_query_iou(
                bbox_cxcywh_to_xyxy(pred), target, avg_factor=num_total
            )
        return losses

    def loss(
        self,
        x: List[Tensor],
        text: Dict[str, Tensor],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """Losses of a batch.

        Args:
            x (list[Tensor]): Multi-scale backbone features.
            text (dict): Text encoder outputs.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                (masks padded to ``batch_input_shape``), ``gt_sem_seg`` and
                ``metainfo.no_target``.

        Returns:
            dict[str, Tensor]: ``loss_rel``, ``loss_mask``, ``loss_dice``,
            ``loss_poa`` of the last layer and ``d{i}.*`` of the others;
            ``loss_merged`` and ``loss_nt``.
        """
        metas = [s.metainfo for s in batch_data_samples]
        pad_shape = metas[0]['batch_input_shape']
        gts = [
            self._gt_instances(s, pad_shape, self.context_instances)
            for s in batch_data_samples
        ]
        outs = self(x, text)

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

        rel, masks = outs['rel'][-1], outs['masks'][-1]
        merged = self.aggregate(rel, masks)
        gt_merged = torch.stack(
            [self._merged_target(s, pad_shape) for s in batch_data_samples]
        ).to(merged.device)
        gt_merged = F.interpolate(
            gt_merged[:, None],
            size=merged.shape[-2:],
            mode='bilinear',
            align_corners=False,
        )[:, 0]
        losses['loss_merged'] = self.loss_merged(
            merged.reshape(-1, 1),
            (gt_merged.reshape(-1) < 0.5).long(),
            avg_factor=merged.numel(),
        )
        if self.loss_merged_dice is not None:
            losses['loss_merged_dice'] = self.loss_merged_dice(
                merged.flatten(1),
                gt_merged.flatten(1),
                avg_factor=merged.shape[0],
            )
        nt_gt = torch.tensor(
            [bool(m.get('no_target', False)) for m in metas],
            device=rel.device,
        )
        # the last layer, or every decoder layer (layer 0 reads the learnt
        # queries before any decoder layer, so it is left out)
        last = num_layers - 1
        layers = range(1, num_layers) if self.nt_deep_supervision else [last]
        for i in layers:
            prefix = '' if i == last else f'd{i}.'
            nt_logit = self.no_target_logit(
                outs['rel'][i], outs['rel_queries'][i], text['sentence_feat']
            )
            losses[prefix + 'loss_nt'] = self._loss_nt(nt_logit, nt_gt)
        return losses

    def _loss_nt(self, nt_logit: Tensor, nt_gt: Tensor) -> Tensor:
        """Sigmoid BCE of the no-target logits (B,) against ``nt_gt``
        (B,) bool, the no-target samples weighted ``nt_pos_weight``."""
        nt_weight = torch.where(
            nt_gt,
            nt_logit.new_tensor(self.nt_pos_weight),
            nt_logit.new_tensor(1.0),
        )
        return self.loss_nt(
            nt_logit.reshape(-1, 1),
            nt_gt.logical_not().long(),
            weight=nt_weight,
            avg_factor=float(nt_weight.sum()),
        )

    @staticmethod
    def _merged_target(data_sample, pad_shape) -> Tensor:
        """Merged ground-truth mask, float (H_pad, W_pad)."""
        if 'gt_sem_seg' in data_sample:
            seg = data_sample.gt_sem_seg.data[0].float()
            seg = (seg > 0).float()
        else:
            masks = InstAlignHead._gt_instances(data_sample, pad_shape).masks
            seg = (
                masks.any(0).float()
                if len(masks)
                else masks.new_zeros(pad_shape).float()
            )
        h, w = seg.shape
        if (h, w) != tuple(pad_shape):
            seg = F.pad(seg, (0, pad_shape[1] - w, 0, pad_shape[0] - h))
        return seg

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
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
            rel, outs['rel_queries'][-1], text['sentence_feat']
        ).sigmoid()
        score_thr = self.test_cfg.get('score_thr', 0.5)
        mask_thr = self.test_cfg.get('mask_thr', 0.5)
        nt_thr = self.test_cfg.get('nt_thr', 0.5)
        max_per_image = self.test_cfg.get('max_per_image', self.num_queries)
        pad_shape = metas[0]['batch_input_shape']
        union = self.test_cfg.get('merge_mode', 'ia') == 'union'
        results = []
        for i, meta in enumerate(metas):
            scores = rel[i].sigmoid()
            keep = torch.nonzero(scores > score_thr).squeeze(1)
            keep = keep[scores[keep].argsort(descending=True)][:max_per_image]
            if union:
                inst_masks = mask_logits_to_frame(
                    masks[i, keep], meta, pad_shape, rescale, mask_thr
                )
                merged_mask = inst_masks.any(0)
            else:
                logits = torch.cat([masks[i, keep], merged[i : i + 1]])
                binary = mask_logits_to_frame(
                    logits, meta, pad_shape, rescale, mask_thr
                )
                inst_masks, merged_mask = binary[:-1], binary[-1]
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
