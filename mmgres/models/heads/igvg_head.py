# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's head: the global branch and the point-guided instance-aware
perception head (PIPH)."""

import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.layers.transformer import (
    MLP,
    DeformableDetrTransformerDecoder,
    inverse_sigmoid,
)
from mmdet.models.task_modules.assigners.match_cost import (
    ClassificationCost,
    FocalLossCost,
)
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.heads.igvg_head_loss import IGVGLossMixin
from mmgres.models.layers.text_deformable_decoder import (
    TextDeformableDetrTransformerDecoder,
)
from mmgres.models.layers.word_attention import build_word_attention
from mmgres.models.task_modules import ContextFocalLossCost
from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
    points_to_frame,
)
from mmgres.registry import MODELS, TASK_UTILS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

DEFAULT_DECODER = dict(
    num_layers=3,  # InstanceVG
    return_intermediate=True,
    layer_cfg=dict(
        self_attn_cfg=dict(
            embed_dims=256, num_heads=8, dropout=0.1, batch_first=True
        ),
        cross_attn_cfg=dict(
            embed_dims=256,
            num_levels=4,
            num_heads=8,
            num_points=4,
            dropout=0.1,
            batch_first=True,
        ),
        ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.1),
    ),
)

DEFAULT_ASSIGNER = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='ClassificationCost', weight=1.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0),
        dict(type='PointL1Cost', weight=2.0),
    ],
)


@MODELS.register_module()
class IGVGHead(IGVGLossMixin, BaseModule):
    """IGVG head: global mask, no-target, and instance boxes + masks.

    Input: the SimFPN levels of the text-aware BEiT-3 image map, that map
    itself (F_i, stride 16) and the text tokens (F_t), all of width C.

    **Global branch.** :class:`UNetMaskDecoder` fuses the levels into
    S_global (stride 4, C channels) and the global mask logit;
    :class:`NoTargetBranch` reads S_global (and the sentence) and gives the
    two no-target logits.

    **PIPH.** :class:`AdaptiveQueryGenerator` (STS, cross-attention score
    map, DPS, ITQ) gives N_q initial queries Q_init and their reference
    points P_r. mmdet's :class:`DeformableDetrTransformerDecoder` (mmcv's
    ``MultiScaleDeformableAttention`` over the SimFPN levels) refines the
    queries, P_r being its initial reference points; the positional query
    is ``Linear(P_r)`` as in InstanceVG. At every decoder layer each query
    predicts

    - a target / not-target logit (``cls_branches``);
    - a box, normalised cxcywh, as an offset from its reference point in
      logit space (Deformable DETR's ``reg_branches``; with
      ``with_box_refine`` the reference is refined layer by layer);
    - a point: its reference point P_r (what the point-guided match cost
      compares with the box centres).

    The last layer's queries Q_d give the instance masks
    ``Q_s = MLP(Q_d) · S_global`` (a dot product per pixel).

    **Matching.** Per decoder layer, mmdet's ``HungarianAssigner`` with the
    costs of ``train_cfg.assigner`` (IGVG: classification 1, L1 box 5,
    GIoU 2, :class:`PointL1Cost` 2). The last layer's assignment is reused
    for the instance masks (query-instance matching), so a query's box and
    mask are supervised by one and the same ground-truth object.

    **Losses** (the λ are the ``loss_weight`` of each loss config):

    - DETR, at every decoder layer (deep supervision, ``d{i}.`` prefix):
      ``loss_cls`` (2-class CE with background weight 0.1 as DETR, or
      sigmoid focal), ``loss_bbox`` (L1, normalised cxcywh) and
      ``loss_iou`` (GIoU);
    - instance masks of the matched queries: ``loss_mask`` (BCE over the
      pixels) and ``loss_dice``;
    - the negative-query term: the masks of the unmatched queries against
      an empty mask, BCE and dice averaged over the N_neg unmatched
      queries, times λ_neg = ``neg_weight`` (``loss_neg_mask``,
      ``loss_neg_dice``);
    - the global mask: ``loss_global_mask`` (BCE) and ``loss_global_dice``;
    - ``loss_nt`` (:class:`NoTargetBranch`, CE with class weights
      [0.9, 1.1]);
    - ``loss_minimap_bce`` / ``loss_minimap_dice`` (AQG's score map).

    **Context instances** (``context_instances=True``; ours, not the
    paper's, which matches the referred objects only). The samples carry
    ``gt_context_instances``, every object of the image (``labels`` 0 for
    the referred objects, 1 for the others; the training dataset and
    ``LoadReferringAnnotations`` built with ``with_context=True``). The
    DETR matching of every decoder layer then runs against all of them,
    with the configured costs:

    - the ground-truth labels given to the assigner are the dataset's:
      0 (target) or 1, which is the head's background label ("not
      target"). mmdet's ``ClassificationCost`` (softmax, two logits) reads
      them as they are: a referred object costs ``-p_target``, another
      object ``-p_not_target``, so the assigner gives the referred objects
      to the queries that score high on "target" and the other objects to
      the ones that score low. With the sigmoid classifier (one logit),
      mmdet's ``FocalLossCost`` has no logit for label 1: use
      :class:`~mmgres.models.task_modules.ContextFocalLossCost`, which
      costs a background object the opposite of a target (a check at
      construction says so). Passing the labels rather than a separate
      flag keeps mmdet's own convention (label ``num_classes`` =
      background) and the paper's config working unchanged;
    - a query matched to a referred object gets the class target
      "target"; a query matched to another object gets "not target", as
      the unmatched ones; all matched queries get the box losses (L1,
      GIoU), averaged over all of them. (IGVG has no point loss: the
      reference points enter the matching only, through ``PointL1Cost``,
      which sees all objects too.) With focal classification the class
      loss is averaged over the queries matched to referred objects;
    - the instance masks: every matched query, referred object or not,
      learns its object's mask; only unmatched queries take the negative
      (empty mask) term. ``Q_s = MLP(Q_d) · S_global`` is a dot product
      with the C-channel S_global features, not a product with the
      referred-region (global mask) logit, which is a separate 1×1 conv
      of S_global (the optional sentence gating of ``UNetMaskDecoder``
      scales whole channels, not regions). An object that is not referred
      can therefore be segmented from S_global, and supervising its mask
      keeps a query's box and mask on the same object, which is the
      point of the paper's query-instance matching;
    - the global mask, the no-target branch, the minimap supervision and
      prediction are unchanged (referred objects only);
    - ``num_context_classes=N`` adds a linear category classifier on the
      decoder queries, trained with ``loss_context_cls`` (softmax CE) on
      all matched queries at every decoder layer, each query to its
      object's ``gt_context_instances.categories``.

    The targets and losses (:meth:`get_targets`, :meth:`loss` and their
    helpers) live in :class:`IGVGLossMixin` (``igvg_head_loss.py``).

    Mask losses are computed at the padded input size divided by
    ``mask_loss_stride``: with 1, the stride-4 logits are upsampled
    bilinearly, as InstanceVG does.

    **Prediction.** ``score = p_target × (1 − p_NT)``; queries with
    ``score > score_thr`` (0.7) are kept, their masks thresholded at
    ``mask_thr`` (0.5); the merged mask is the global mask OR the kept
    instance masks. "No target" is decided by ``nt_rule``: ``'score'``
    (InstanceVG: no query kept) or ``'classifier'`` (``p_NT > nt_thr``).

    Args:
        embed_dims (int): Width C of every input. Defaults to 256.
        num_queries (int): N_q. Defaults to 10 (InstanceVG).
        num_levels (int): SimFPN levels the decoder attends to. Defaults
            to 4.
        mask_decoder (dict): :class:`UNetMaskDecoder` config; ``in_channels``
            and ``feat_channels`` default to C.
        nt_branch (dict): :class:`NoTargetBranch` config; ``in_channels``
            defaults to the S_global width.
        aqg (dict): :class:`AdaptiveQueryGenerator` config; ``embed_dims``
            and ``num_queries`` are filled in.
        decoder (dict): mmdet ``DeformableDetrTransformerDecoder`` config.
        with_box_refine (bool): Refine the reference boxes layer by layer
            (Deformable DETR). Defaults to False (InstanceVG keeps P_r).
        share_pred_layer (bool): One class / box branch for all layers (as
            InstanceVG). Defaults to True.
        num_mask_embed_layers (int): Layers of the MLP applied to Q_d before
            the dot product with S_global; 0 uses Q_d itself (InstanceVG).
            Defaults to 3 (ours, Mask2Former's mask embedding).
        loss_cls (dict): Classification loss. ``use_sigmoid=False``: two
            classes (0 target, 1 background), CE with ``class_weight``;
            ``use_sigmoid=True``: one sigmoid logit (e.g. ``FocalLoss``;
            then use ``FocalLossCost`` rather than ``ClassificationCost``
            in the assigner).
        loss_bbox (dict): L1 loss on normalised cxcywh.
        loss_iou (dict): GIoU loss.
        loss_mask (dict): Sigmoid BCE of the instance masks.
        loss_dice (dict): Dice loss of the instance masks.
        loss_global_mask (dict): Sigmoid BCE of the global mask.
        loss_global_dice (dict): Dice loss of the global mask.
        neg_weight (float): λ_neg of the negative-query term; 0 disables
            it. Defaults to 0.2 (InstanceVG).
        mask_loss_stride (int): The mask losses compare logits and targets
            at the padded input size divided by this: 1 upsamples the
            logits to the input (InstanceVG); 4 (ours, for CPU configs)
            keeps the stride-4 logits and area-downsamples the targets to
            them (soft targets), 16 times fewer pixels. Defaults to 1.
        context_instances (bool): Match the queries against every object
            of the image (``gt_context_instances``), the referred ones
            being the "target" class (see "Context instances" above).
            Ours. Defaults to False (the paper: referred objects only).
        num_context_classes (int): With ``context_instances``, the number
            of object categories (``gt_context_instances.categories``):
            a linear classifier on the decoder queries learns each matched
            query's category (``loss_context_cls``). Ours. 0 (the
            default) turns it off.
        loss_context_cls (dict): The category loss (softmax CE over the
            matched queries, averaged over them). Defaults to
            ``CrossEntropyLoss`` with weight 1.
        cls_text_attn_cfg (dict, optional): If given (mmcv
            ``MultiheadAttention`` kwargs, e.g. ``dict(num_heads=4)``), the
            classification branch reads each decoder layer's queries after
            one cross-attention to the words of F_t (residual + LayerNorm);
            the box, point and mask branches still read the plain queries.
            Ours: the Deformable-DETR decoder never sees the words, so
            whether a query is *the referred* object rests on the fusion
            inside BEiT-3 and on ITQ, which a tiny random BEiT-3 does not
            provide. Defaults to None (the paper).
        decoder_text_attn_cfg (dict, optional): If given (mmcv
            ``MultiheadAttention`` kwargs, e.g. ``dict(num_heads=4)``),
            every decoder layer is a
            :class:`TextDeformableDetrDecoderLayer`: between its
            self-attention and its deformable cross-attention the queries
            attend to the words of F_t, so the self-attention of the next
            layer compares queries that have read the expression. Ours, for
            the same reason as ``cls_text_attn_cfg``. Defaults to None
            (the paper: mmdet's Deformable-DETR layers).
        with_ref_offset (bool): InstanceVG's released code: the decoder's
            reference points are ``sigmoid(Linear(query_pos)) + P_r``
            (its ``decoder_transformer.reference_points``, a learned
            offset in (0, 1) added to the selected points; the sum may
            exceed 1 and is clamped by the inverse sigmoid of the box
            branch). The paper uses P_r itself. Defaults to False.
        ref_inverse_sigmoid_eps (float): ``eps`` of the inverse sigmoid
            that turns the reference into the box branch's offset origin.
            Defaults to 1e-5 (mmdet); InstanceVG (detrex) uses 1e-3, which
            matters once ``with_ref_offset`` pushes references past 1.
        train_cfg (dict, optional): ``assigner`` (a ``HungarianAssigner``
            config).
        test_cfg (dict, optional): ``score_thr`` (0.7), ``mask_thr`` (0.5),
            ``nt_rule`` (``'score'``), ``nt_thr`` (0.5),
            ``max_per_image`` (N_q), ``nt_score`` and
            ``mask_align_corners``. ``nt_score='softmax'`` (the default)
            scores a query ``p_target × (1 − p_NT)`` with p_NT the softmax
            of the no-target logits; ``'sigmoid'`` (InstanceVG's released
            code) uses ``p_target × sigmoid(l_0)``, l_0 being the
            "has a target" logit (index 0), and reports
            ``p_NT = 1 − sigmoid(l_0)``. ``mask_align_corners`` (False)
            is the ``align_corners`` of the mask upsampling to the input
            size; InstanceVG's code uses True.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_queries: int = 10,
        num_levels: int = 4,
        mask_decoder: ConfigType = dict(type='UNetMaskDecoder'),
        nt_branch: ConfigType = dict(type='NoTargetBranch'),
        aqg: ConfigType = dict(type='AdaptiveQueryGenerator'),
        decoder: ConfigType = DEFAULT_DECODER,
        with_box_refine: bool = False,
        share_pred_layer: bool = True,
        num_mask_embed_layers: int = 3,
        loss_cls: ConfigType = dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[1.0, 0.1],
            loss_weight=0.1,
        ),
        loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=0.5),
        loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=0.2),
        loss_mask: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        loss_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0,
        ),
        loss_global_mask: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        loss_global_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0,
        ),
        neg_weight: float = 0.2,
        mask_loss_stride: int = 1,
        context_instances: bool = False,
        num_context_classes: int = 0,
        loss_context_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0
        ),
        cls_text_attn_cfg: OptConfigType = None,
        decoder_text_attn_cfg: OptConfigType = None,
        with_ref_offset: bool = False,
        ref_inverse_sigmoid_eps: float = 1e-5,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if neg_weight < 0:
            raise ValueError(f'neg_weight must be >= 0, got {neg_weight}')
        self.embed_dims = embed_dims
        self.num_queries = num_queries
        self.num_levels = num_levels
        self.with_box_refine = with_box_refine
        self.neg_weight = float(neg_weight)
        if mask_loss_stride < 1:
            raise ValueError(
                f'mask_loss_stride must be >= 1, got {mask_loss_stride}'
            )
        self.mask_loss_stride = int(mask_loss_stride)

        mask_decoder = ConfigDict(copy.deepcopy(mask_decoder))
        mask_decoder.setdefault('in_channels', embed_dims)
        mask_decoder.setdefault('feat_channels', embed_dims)
        mask_decoder.setdefault('num_levels', num_levels)
        self.mask_decoder = MODELS.build(mask_decoder)
        mask_channels = self.mask_decoder.feat_channels

        nt_branch = ConfigDict(copy.deepcopy(nt_branch))
        nt_branch.setdefault('in_channels', mask_channels)
        self.nt_branch = MODELS.build(nt_branch)

        aqg = ConfigDict(copy.deepcopy(aqg))
        aqg.update(embed_dims=embed_dims, num_queries=num_queries)
        self.aqg = MODELS.build(aqg)

        decoder = ConfigDict(copy.deepcopy(decoder))
        decoder.setdefault('post_norm_cfg', None)  # Deformable DETR has none
        if decoder_text_attn_cfg is None:
            self.decoder = DeformableDetrTransformerDecoder(**decoder)
        else:
            self.decoder = TextDeformableDetrTransformerDecoder(
                text_attn_cfg=decoder_text_attn_cfg, **decoder
            )
        self.decoder_reads_text = decoder_text_attn_cfg is not None
        if self.decoder.embed_dims != embed_dims:
            raise ValueError(
                f'decoder width {self.decoder.embed_dims} != embed_dims '
                f'{embed_dims}.'
            )
        num_pred = self.decoder.num_layers
        for layer in self.decoder.layers:
            if layer.cross_attn.num_levels != num_levels:
                raise ValueError(
                    'decoder cross_attn_cfg.num_levels must equal '
                    f'num_levels={num_levels}.'
                )
        self.query_pos = nn.Linear(2, embed_dims)
        # InstanceVG's learned offset of the reference points (off: paper)
        self.reference_points = (
            nn.Linear(embed_dims, 2) if with_ref_offset else None
        )
        if not 0 < ref_inverse_sigmoid_eps < 0.5:
            raise ValueError(
                'ref_inverse_sigmoid_eps must be in (0, 0.5), got '
                f'{ref_inverse_sigmoid_eps}.'
            )
        self.ref_inverse_sigmoid_eps = float(ref_inverse_sigmoid_eps)

        self.loss_cls = MODELS.build(loss_cls)
        self.use_sigmoid = bool(loss_cls.get('use_sigmoid', False))
        # class 0 is "target"; label 1 (= num classes) is background
        self.cls_out_channels = 1 if self.use_sigmoid else 2
        cls_branch = nn.Linear(embed_dims, self.cls_out_channels)
        reg_branch = MLP(embed_dims, embed_dims, 4, 3)
        if share_pred_layer:
            self.cls_branches = nn.ModuleList([cls_branch] * num_pred)
            self.reg_branches = nn.ModuleList([reg_branch] * num_pred)
        else:
            self.cls_branches = nn.ModuleList(
                copy.deepcopy(cls_branch) for _ in range(num_pred)
            )
            self.reg_branches = nn.ModuleList(
                copy.deepcopy(reg_branch) for _ in range(num_pred)
            )
        if num_mask_embed_layers > 0:
            self.mask_embed = MLP(
                embed_dims, embed_dims, mask_channels, num_mask_embed_layers
            )
        elif mask_channels != embed_dims:
            raise ValueError(
                'num_mask_embed_layers=0 needs S_global to have embed_dims '
                f'channels, got {mask_channels}.'
            )
        else:
            self.mask_embed = nn.Identity()

        if cls_text_attn_cfg is not None:
            self.cls_text_attn, self.cls_text_norm = build_word_attention(
                cls_text_attn_cfg, embed_dims
            )
        else:
            self.cls_text_attn = None
            self.cls_text_norm = None

        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_global_mask = MODELS.build(loss_global_mask)
        self.loss_global_dice = MODELS.build(loss_global_dice)

        self.train_cfg = ConfigDict(train_cfg or {})
        self.assigner = TASK_UTILS.build(
            self.train_cfg.get('assigner', DEFAULT_ASSIGNER)
        )

        self.context_instances = bool(context_instances)
        if num_context_classes < 0:
            raise ValueError(
                f'num_context_classes must be >= 0, got {num_context_classes}'
            )
        if num_context_classes and not context_instances:
            raise ValueError(
                'num_context_classes needs context_instances=True (the '
                'categories come with gt_context_instances).'
            )
        self.num_context_classes = int(num_context_classes)
        if num_context_classes:
            self.context_cls_embed = nn.Linear(embed_dims, num_context_classes)
            self.loss_context_cls = MODELS.build(loss_context_cls)
        else:
            self.context_cls_embed = None
            self.loss_context_cls = None
        if self.context_instances and self.use_sigmoid:
            for cost in getattr(self.assigner, 'match_costs', []):
                plain = type(cost) in (ClassificationCost, FocalLossCost)
                if plain and not getattr(cost, 'binary_input', False):
                    raise ValueError(
                        f'context_instances with a sigmoid classifier: '
                        f'{type(cost).__name__} cannot cost the objects '
                        'that are not targets (label 1, no logit); use '
                        f'{ContextFocalLossCost.__name__} in '
                        'train_cfg.assigner.match_costs.'
                    )
        self.test_cfg = ConfigDict(test_cfg or {})
        nt_rule = self.test_cfg.get('nt_rule', 'score')
        if nt_rule not in ('score', 'classifier'):
            raise ValueError(
                f"test_cfg.nt_rule must be 'score' or 'classifier', got "
                f'{nt_rule!r}.'
            )
        nt_score = self.test_cfg.get('nt_score', 'softmax')
        if nt_score not in ('softmax', 'sigmoid'):
            raise ValueError(
                "test_cfg.nt_score must be 'softmax' or 'sigmoid', got "
                f'{nt_score!r}.'
            )

    def init_weights(self) -> None:
        """Children first; then Deformable DETR's initialisation of the
        decoder (Xavier, then mmcv's deformable-attention grid) and of the
        branches (box size bias -2 as InstanceVG, focal prior 0.01)."""
        super().init_weights()
        for p in self.decoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.decoder.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        for branch in self.reg_branches:
            nn.init.constant_(branch.layers[-1].bias.data[2:], -2.0)
        if self.use_sigmoid:
            prior = -math.log((1 - 0.01) / 0.01)
            for branch in self.cls_branches:
                nn.init.constant_(branch.bias, prior)

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    @staticmethod
    def _valid_hw(
        metas: Optional[Sequence[dict]], hw: Tuple[int, int], i: int
    ) -> Tuple[int, int]:
        """Rows and columns of an (h, w) map that cover sample i's image
        (the rest is batch padding)."""
        h, w = hw
        if not metas:
            return h, w
        meta = metas[i]
        if 'batch_input_shape' not in meta or 'img_shape' not in meta:
            return h, w
        pad_h, pad_w = meta['batch_input_shape'][:2]
        img_h, img_w = meta['img_shape'][:2]
        vh = min(h, max(1, math.ceil(img_h / pad_h * h)))
        vw = min(w, max(1, math.ceil(img_w / pad_w * w)))
        return vh, vw

    def _padding_mask(
        self,
        metas: Optional[Sequence[dict]],
        bsz: int,
        hw: Tuple[int, int],
        device: torch.device,
    ) -> Tensor:
        """True on the padded cells of an (h, w) map, shape (B, h, w)."""
        mask = torch.ones((bsz, *hw), dtype=torch.bool, device=device)
        for i in range(bsz):
            vh, vw = self._valid_hw(metas, hw, i)
            mask[i, :vh, :vw] = False
        return mask

    def forward(
        self,
        feats: Sequence[Tensor],
        img_feats: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor] = None,
        batch_img_metas: Optional[Sequence[dict]] = None,
    ) -> Dict[str, Tensor]:
        """Run both branches.

        Args:
            feats (Sequence[Tensor]): SimFPN levels, fine to coarse, each
                (B, C, H_l, W_l).
            img_feats (Tensor): F_i, the projected stride-16 image tokens,
                shape (B, C, h, w).
            text_feats (Tensor): F_t, shape (B, L, C).
            text_padding_mask (Tensor, optional): (B, L), True at padding.
            batch_img_metas (list[dict], optional): ``img_shape`` and
                ``batch_input_shape`` per sample, for the padding masks.
                None: every cell is valid.

        Returns:
            dict[str, Tensor]: With D decoder layers and Q = N_q:

            - ``cls_scores``: (D, B, Q, K) logits, K = 2 (CE) or 1
              (sigmoid);
            - ``bbox_preds``: (D, B, Q, 4), normalised cxcywh in the image
              frame (``img_shape``);
            - ``points``: (B, Q, 2), the reference points P_r, normalised
              (x, y) in the image frame;
            - ``queries``: (D, B, Q, C), the decoder outputs;
            - ``mask_preds``: (B, Q, h4, w4) instance mask logits;
            - ``global_mask``: (B, 1, h4, w4) global mask logits;
            - ``s_global``: (B, C', h4, w4);
            - ``nt_logits``: (B, 2), index 1 "no target";
            - ``score_map``: (B, h, w) AQG score map logits;
            - ``point_indices``: (B, Q) flat cells of P_r on F_i.
        """
        feats = list(feats)[: self.num_levels]
        if len(feats) != self.num_levels:
            raise ValueError(
                f'IGVGHead needs {self.num_levels} levels, got {len(feats)}.'
            )
        bsz = img_feats.shape[0]
        device = img_feats.device
        s_global, global_mask = self.mask_decoder(
            feats, text_feats, text_padding_mask
        )
        nt_logits = self.nt_branch(s_global, text_feats, text_padding_mask)

        img_pad = None
        if batch_img_metas:
            img_pad = self._padding_mask(
                batch_img_metas, bsz, img_feats.shape[-2:], device
            )
            if not img_pad.any():
                img_pad = None
        aqg_out = self.aqg(img_feats, text_feats, text_padding_mask, img_pad)

        values, pad_masks, shapes, ratios = [], [], [], []
        for feat in feats:
            h, w = feat.shape[-2:]
            mask = self._padding_mask(batch_img_metas, bsz, (h, w), device)
            values.append(feat.flatten(2).transpose(1, 2))
            pad_masks.append(mask.flatten(1))
            shapes.append((h, w))
            valid_h = (~mask[:, :, 0]).sum(1).float() / h
            valid_w = (~mask[:, 0, :]).sum(1).float() / w
            ratios.append(torch.stack([valid_w, valid_h], dim=-1))
        value = torch.cat(values, dim=1)
        key_padding_mask = torch.cat(pad_masks, dim=1)
        spatial_shapes = torch.as_tensor(
            shapes, dtype=torch.long, device=device
        )
        level_start_index = torch.cat(
            (
                spatial_shapes.new_zeros((1,)),
                spatial_shapes.prod(1).cumsum(0)[:-1],
            )
        )
        valid_ratios = torch.stack(ratios, dim=1)  # (B, levels, 2)

        # P_r is normalised in the (padded) map; the decoder wants the
        # image frame (it multiplies by the valid ratios itself)
        ratio = valid_ratios[:, 0]  # identical on every level up to rounding
        points = (aqg_out['ref_points'] / ratio[:, None]).clamp(0.0, 1.0)
        query_pos = self.query_pos(points)
        decoder_ref = points
        if self.reference_points is not None:
            decoder_ref = self.reference_points(query_pos).sigmoid() + points
        words = (
            dict(text_feats=text_feats, text_padding_mask=text_padding_mask)
            if self.decoder_reads_text
            else {}
        )
        hidden, references = self.decoder(
            query=aqg_out['queries'],
            query_pos=query_pos,
            value=value,
            key_padding_mask=key_padding_mask,
            reference_points=decoder_ref,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            reg_branches=self.reg_branches if self.with_box_refine else None,
            **words,
        )
        cls_scores, bbox_preds = [], []
        for lvl in range(hidden.shape[0]):
            reference = decoder_ref if lvl == 0 else references[lvl - 1]
            reference = inverse_sigmoid(
                reference, eps=self.ref_inverse_sigmoid_eps
            )
            cls_in = hidden[lvl]
            if self.cls_text_attn is not None:
                cls_in = self.cls_text_norm(
                    self.cls_text_attn(
                        query=cls_in,
                        key=text_feats,
                        value=text_feats,
                        key_padding_mask=text_padding_mask,
                    )
                )
            cls_scores.append(self.cls_branches[lvl](cls_in))
            tmp = self.reg_branches[lvl](hidden[lvl])
            if reference.shape[-1] == 4:
                tmp = tmp + reference
            else:
                tmp = torch.cat([tmp[..., :2] + reference, tmp[..., 2:]], -1)
            bbox_preds.append(tmp.sigmoid())

        mask_embed = self.mask_embed(hidden[-1])
        mask_preds = torch.einsum('bqc,bchw->bqhw', mask_embed, s_global)
        return dict(
            cls_scores=torch.stack(cls_scores),
            bbox_preds=torch.stack(bbox_preds),
            points=points,
            queries=hidden,
            mask_preds=mask_preds,
            global_mask=global_mask,
            s_global=s_global,
            nt_logits=nt_logits,
            score_map=aqg_out['score_map'],
            point_indices=aqg_out['point_indices'],
        )

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def target_probs(self, cls_scores: Tensor) -> Tensor:
        """p_target from (..., K) logits: softmax class 0, or sigmoid."""
        if self.use_sigmoid:
            return cls_scores[..., 0].sigmoid()
        return cls_scores.softmax(-1)[..., 0]

    def predict(
        self,
        feats: Sequence[Tensor],
        img_feats: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor],
        batch_data_samples: SampleList,
        rescale: bool = True,
        rescale_boxes: Optional[bool] = None,
    ) -> List[dict]:
        """Forward and :meth:`predict_by_feat`."""
        metas = [s.metainfo for s in batch_data_samples]
        outs = self(feats, img_feats, text_feats, text_padding_mask, metas)
        return self.predict_by_feat(outs, metas, rescale, rescale_boxes)

    def predict_by_feat(
        self,
        outs: Dict[str, Tensor],
        batch_img_metas: List[dict],
        rescale: bool = True,
        rescale_boxes: Optional[bool] = None,
    ) -> List[dict]:
        """Post-process the network outputs.

        Args:
            outs (dict): Output of :meth:`forward` (the last layer's
                ``cls_scores`` / ``bbox_preds`` are used).
            batch_img_metas (list[dict]): ``img_shape``,
                ``batch_input_shape``, ``ori_shape``, ``scale_factor``.
            rescale (bool): Masks in the original image frame (else in
                the ``img_shape`` frame).
            rescale_boxes (bool, optional): Boxes and points in the
                original frame; None: as ``rescale``.

        Returns:
            list[dict]: Per sample:

            - ``pred_instances``: InstanceData of the kept queries, by
              descending score: ``bboxes`` (N, 4) xyxy, ``scores`` (N,)
              ``p_target × (1 − p_NT)``, ``masks`` (N, H, W) bool,
              ``labels`` (N,) zeros, ``points`` (N, 2) their reference
              points (x, y) and ``query_inds`` (N,) the query indices;
            - ``merged``: (H, W) bool, global mask OR kept masks;
            - ``no_target`` (bool) and ``nt_score`` (float, p_NT);
            - ``points``: (Q, 2) every selected reference point, (x, y)
              in the same frame (for CoverAcc and visualisation).
        """
        if rescale_boxes is None:
            rescale_boxes = rescale
        score_thr = self.test_cfg.get('score_thr', 0.7)
        mask_thr = self.test_cfg.get('mask_thr', 0.5)
        nt_rule = self.test_cfg.get('nt_rule', 'score')
        nt_thr = self.test_cfg.get('nt_thr', 0.5)
        max_per_image = self.test_cfg.get('max_per_image', self.num_queries)

        target_prob = self.target_probs(outs['cls_scores'][-1])
        if self.test_cfg.get('nt_score', 'softmax') == 'sigmoid':
            nt_prob = 1.0 - outs['nt_logits'][:, 0].sigmoid()
        else:
            nt_prob = outs['nt_logits'].softmax(-1)[:, 1]
        align = bool(self.test_cfg.get('mask_align_corners', False))
        scores = target_prob * (1.0 - nt_prob[:, None])
        bbox_preds = outs['bbox_preds'][-1]
        results = []
        for i, meta in enumerate(batch_img_metas):
            img_h, img_w = meta['img_shape'][:2]
            pad_shape = meta.get('batch_input_shape', (img_h, img_w))[:2]
            keep = torch.nonzero(scores[i] > score_thr).squeeze(1)
            keep = keep[scores[i, keep].argsort(descending=True)]
            keep = keep[:max_per_image]

            factor = bbox_preds.new_tensor([img_w, img_h, img_w, img_h])
            boxes = bbox_cxcywh_to_xyxy(bbox_preds[i, keep]) * factor
            boxes[:, 0::2].clamp_(0, img_w)
            boxes[:, 1::2].clamp_(0, img_h)
            points = outs['points'][i] * factor[:2]
            boxes = boxes_to_frame(boxes, meta, False, rescale_boxes)
            points = points_to_frame(points, meta, False, rescale_boxes)

            logits = torch.cat(
                [outs['mask_preds'][i, keep], outs['global_mask'][i]]
            )
            binary = mask_logits_to_frame(
                logits, meta, pad_shape, rescale, mask_thr, align
            )
            inst_masks = binary[:-1]
            merged = binary[-1] | inst_masks.any(0)
            if nt_rule == 'score':
                no_target = len(keep) == 0
            else:
                no_target = bool(nt_prob[i] > nt_thr)
            results.append(
                dict(
                    pred_instances=InstanceData(
                        bboxes=boxes,
                        scores=scores[i, keep],
                        masks=inst_masks,
                        labels=torch.zeros_like(keep),
                        points=points[keep],
                        query_inds=keep,
                    ),
                    merged=merged,
                    no_target=no_target,
                    nt_score=float(nt_prob[i]),
                    points=points,
                )
            )
        return results
