# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's head: the global branch and the point-guided instance-aware
perception head (PIPH), on mmdet's Deformable-DETR head."""

import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.models.layers.transformer import (
    MLP,
    DeformableDetrTransformerDecoder,
    inverse_sigmoid,
)
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.layers.igvg.multi_scale_inputs import (
    multi_scale_inputs,
    padding_mask,
)
from mmgres.models.utils.referring_targets import (
    merged_targets,
    referring_targets,
)
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .mask_losses import BCE, DICE, global_mask_losses, instance_mask_losses
from .matching import (
    DEFAULT_ASSIGNER,
    assign_layer,
    detr_targets,
    point_guided_assign,
    with_ref_points,
)
from .post_processing import check_test_cfg, post_process, target_probs

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


@MODELS.register_module()
class IGVGHead(DeformableDETRHead):
    """IGVG head: global mask, no-target, and instance boxes + masks.

    Input: the SimFPN levels of the text-aware BEiT-3 image map, that map
    itself (F_i, stride 16) and the text tokens (F_t), all of width C.

    - **Global branch.** :class:`UNetMaskDecoder` fuses the levels into
      S_global (stride 4, C channels) and the global mask logit;
      :class:`NoTargetBranch` reads S_global: two no-target logits.
    - **PIPH.** :class:`AdaptiveQueryGenerator` (STS, score map, DPS, ITQ)
      gives N_q queries Q_init and reference points P_r; mmdet's
      ``DeformableDetrTransformerDecoder`` refines the queries over the
      levels from P_r (not refined layer by layer, as InstanceVG; the
      positional query is ``Linear(P_r)``). Every layer predicts, with
      Deformable DETR's branches shared by all layers (as InstanceVG), a
      target / not-target logit and a box (normalised cxcywh, an offset
      from P_r in logit space); the point of a query is its P_r. The last
      layer's queries Q_d give the instance masks ``Q_s = Q_d · S_global``
      (Sec. 3.1.2; InstanceVG ``torch.einsum("bqc,bchw->bqhw",
      inter_states[-1], pred_mask)``).
    - **Matching** (Sec. 3.1.2). Per layer, mmdet's ``HungarianAssigner``
      with ``train_cfg.assigner`` (Eq. 4: class 1, L1 5, GIoU 2,
      :class:`PointL1Cost` 2, which reads P_r from the image metas, see
      :meth:`assign`). The last layer's assignment also picks each
      matched query's mask target: a query's box and mask are supervised
      by the same object.
    - **Losses.** mmdet's DETR losses at every layer (``d{i}.`` prefixes;
      2-class CE with DETR's background weight, averaged over pos + bg ·
      neg, or sigmoid focal; L1; GIoU); the instance masks with the
      negative-query term (Eq. 6, :func:`instance_mask_losses`); the global
      mask (BCE + dice); ``loss_nt``; AQG's minimap loss. Masks are
      compared at the padded input size (logits upsampled bilinearly, as
      InstanceVG).
    - **Prediction** (:func:`post_process`). ``score = p_target ×
      (1 − p_NT)``, queries above 0.7 kept, masks at 0.5, merged mask =
      global OR kept instances, "no target" when no query is kept.

    A subclass changes one step by overriding its method:
    :meth:`text_inputs`, :meth:`build_decoder`, :meth:`classify`,
    :meth:`mask_embedding`, :meth:`loss_targets`,
    :meth:`loss_instance_masks` or :meth:`loss_global`.

    Args:
        embed_dims (int): Width C of every input. Defaults to 256.
        num_queries (int): N_q. Defaults to 10 (InstanceVG).
        num_levels (int): SimFPN levels the decoder attends to. Defaults
            to 4.
        mask_decoder (dict): :class:`UNetMaskDecoder` config; ``in_channels``
            and ``feat_channels`` default to C (S_global must have C
            channels for ``Q_d · S_global``).
        nt_branch (dict): :class:`NoTargetBranch` config; ``in_channels``
            defaults to C.
        aqg (dict): :class:`AdaptiveQueryGenerator` config; ``embed_dims``
            and ``num_queries`` are filled in.
        decoder (dict): mmdet ``DeformableDetrTransformerDecoder`` config.
        loss_cls (dict): ``use_sigmoid=False``: two classes (0 target, 1
            background), CE whose ``class_weight`` [1.0, bg] also sets
            DETR's average factor; ``use_sigmoid=True``: one sigmoid logit
            (e.g. ``FocalLoss`` with ``FocalLossCost`` in the assigner).
        loss_bbox (dict): L1 loss on normalised cxcywh.
        loss_iou (dict): GIoU loss.
        loss_mask (dict): Sigmoid BCE of the instance masks.
        loss_dice (dict): Dice loss of the instance masks.
        loss_global_mask (dict): Sigmoid BCE of the global mask.
        loss_global_dice (dict): Dice loss of the global mask.
        neg_weight (float): λ_neg of Eq. 6; 0 disables the negative term.
            Defaults to 0.2 (InstanceVG).
        with_ref_offset (bool): InstanceVG's released code: the decoder's
            references are ``sigmoid(Linear(query_pos)) + P_r`` (its
            ``decoder_transformer.reference_points``; the sum may exceed 1
            and is clamped by the inverse sigmoid). The paper uses P_r.
            Defaults to False.
        ref_inverse_sigmoid_eps (float): ``eps`` of the inverse sigmoid of
            the reference. Defaults to 1e-5 (mmdet); InstanceVG (detrex)
            uses 1e-3, which matters once references pass 1.
        train_cfg (dict, optional): ``assigner``; defaults to Eq. 4's.
        test_cfg (dict, optional): See :func:`post_process`: ``score_thr``
            (0.7), ``mask_thr`` (0.5), ``nt_rule`` (``'score'`` or
            ``'classifier'``), ``nt_thr`` (0.5), ``max_per_image`` (N_q),
            ``nt_score`` (``'softmax'``, or InstanceVG's ``'sigmoid'``)
            and ``mask_align_corners`` (False; InstanceVG True).
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
        loss_cls: ConfigType = dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[1.0, 0.1],
            loss_weight=0.1,
        ),
        loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=0.5),
        loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=0.2),
        loss_mask: ConfigType = BCE,
        loss_dice: ConfigType = DICE,
        loss_global_mask: ConfigType = BCE,
        loss_global_dice: ConfigType = DICE,
        neg_weight: float = 0.2,
        with_ref_offset: bool = False,
        ref_inverse_sigmoid_eps: float = 1e-5,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        if neg_weight < 0:
            raise ValueError(f'neg_weight must be >= 0, got {neg_weight}')
        if not 0 < ref_inverse_sigmoid_eps < 0.5:
            raise ValueError(
                'ref_inverse_sigmoid_eps must be in (0, 0.5), got '
                f'{ref_inverse_sigmoid_eps}.'
            )
        test_cfg = check_test_cfg(ConfigDict(test_cfg or {}))
        train_cfg = ConfigDict(train_cfg or {})
        train_cfg.setdefault('assigner', DEFAULT_ASSIGNER)
        # read by _init_layers, which DETRHead.__init__ calls
        self.num_queries = num_queries
        self.num_levels = num_levels
        self.with_ref_offset = with_ref_offset
        self._layer_cfgs = dict(
            mask_decoder=mask_decoder,
            nt_branch=nt_branch,
            aqg=aqg,
            decoder=decoder,
        )
        super().__init__(
            num_classes=1,  # "target"; label 1 is DETR's background
            embed_dims=embed_dims,
            num_reg_fcs=2,
            sync_cls_avg_factor=True,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            loss_iou=loss_iou,
            share_pred_layer=True,  # InstanceVG shares them
            num_pred_layer=decoder['num_layers'],
            as_two_stage=False,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg,
        )
        del self._layer_cfgs
        self.use_sigmoid = bool(self.loss_cls.use_sigmoid)
        if not self.use_sigmoid:
            # DETR's class-loss average: pos + bg_cls_weight * neg, with the
            # background weight of the CE (mmdet sets it only for DETRHead
            # itself)
            weight = loss_cls.get('class_weight', None)
            self.bg_cls_weight = 1.0 if weight is None else float(weight[-1])
        self.neg_weight = float(neg_weight)
        self.ref_inverse_sigmoid_eps = float(ref_inverse_sigmoid_eps)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_global_mask = MODELS.build(loss_global_mask)
        self.loss_global_dice = MODELS.build(loss_global_dice)

    def _init_layers(self) -> None:
        """The global branch, AQG, the decoder and Deformable DETR's class
        and box branches (box branches as InstanceVG's ``bbox_embed``, an
        mmdet ``MLP``)."""
        cfgs = self._layer_cfgs
        embed_dims = self.embed_dims
        mask_decoder = ConfigDict(copy.deepcopy(cfgs['mask_decoder']))
        mask_decoder.setdefault('in_channels', embed_dims)
        mask_decoder.setdefault('feat_channels', embed_dims)
        mask_decoder.setdefault('num_levels', self.num_levels)
        self.mask_decoder = MODELS.build(mask_decoder)
        mask_channels = self.mask_decoder.feat_channels
        if mask_channels != embed_dims:
            raise ValueError(
                'Q_s = Q_d . S_global needs S_global with embed_dims '
                f'({embed_dims}) channels, got {mask_channels}.'
            )

        nt_branch = ConfigDict(copy.deepcopy(cfgs['nt_branch']))
        nt_branch.setdefault('in_channels', mask_channels)
        self.nt_branch = MODELS.build(nt_branch)

        aqg = ConfigDict(copy.deepcopy(cfgs['aqg']))
        aqg.update(embed_dims=embed_dims, num_queries=self.num_queries)
        self.aqg = MODELS.build(aqg)

        decoder = ConfigDict(copy.deepcopy(cfgs['decoder']))
        decoder.setdefault('post_norm_cfg', None)  # Deformable DETR has none
        self.decoder = self.build_decoder(decoder)
        layer = self.decoder.layers[0]
        if (layer.embed_dims, layer.cross_attn.num_levels) != (
            embed_dims,
            self.num_levels,
        ):
            raise ValueError(
                'The decoder layers need embed_dims and num_levels equal to '
                f"the head's ({embed_dims}, {self.num_levels})."
            )
        self.query_pos = nn.Linear(2, embed_dims)
        # InstanceVG's learned offset of the reference points (off: paper)
        self.reference_points = (
            nn.Linear(embed_dims, 2) if self.with_ref_offset else None
        )
        cls_branch = nn.Linear(embed_dims, self.cls_out_channels)
        reg_branch = MLP(embed_dims, embed_dims, 4, self.num_reg_fcs + 1)
        self.cls_branches = nn.ModuleList([cls_branch] * self.num_pred_layer)
        self.reg_branches = nn.ModuleList([reg_branch] * self.num_pred_layer)

    def build_decoder(self, cfg: ConfigDict) -> nn.Module:
        """The deformable decoder from the ``decoder`` config (with
        ``post_norm_cfg``): mmdet's ``DeformableDetrTransformerDecoder``. A
        subclass with other decoder layers builds them here."""
        return DeformableDetrTransformerDecoder(**cfg)

    def init_weights(self) -> None:
        """Children first; then Deformable DETR's initialisation of the
        decoder (Xavier, then mmcv's deformable-attention grid) and of the
        branches (box size bias -2 as InstanceVG, focal prior 0.01).
        ``DeformableDETRHead.init_weights`` is skipped: it also zeroes the
        last box layer, which InstanceVG does not."""
        BaseModule.init_weights(self)
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
    def text_inputs(
        self, text_feats: Tensor, text_padding_mask: Optional[Tensor]
    ) -> dict:
        """Keyword arguments with which the mask decoder, the no-target
        branch and the deformable decoder are called besides their visual
        inputs. None in IGVG: BEiT-3 has fused the expression into F_i,
        and AQG reads F_t itself. A subclass whose modules read the words
        returns them here."""
        return {}

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
            img_feats (Tensor): F_i, (B, C, h, w), stride 16.
            text_feats (Tensor): F_t, (B, L, C).
            text_padding_mask (Tensor, optional): (B, L), True at padding.
            batch_img_metas (list[dict], optional): ``img_shape`` and
                ``batch_input_shape`` per sample (padding); None: no
                padding.

        Returns:
            dict[str, Tensor]: With D decoder layers and Q = N_q:
            ``cls_scores`` (D, B, Q, K) logits, K = 2 (CE) or 1 (sigmoid);
            ``bbox_preds`` (D, B, Q, 4) normalised cxcywh in the
            ``img_shape`` frame; ``points`` (B, Q, 2) P_r, normalised (x,
            y) in that frame; ``queries`` (D, B, Q, C); ``mask_preds`` (B,
            Q, h4, w4) and ``global_mask`` (B, 1, h4, w4) logits;
            ``s_global`` (B, C, h4, w4); ``nt_logits`` (B, 2), index 1 "no
            target"; ``score_map`` (B, h, w) AQG logits; ``point_indices``
            (B, Q) the cells of P_r on F_i.
        """
        feats = list(feats)[: self.num_levels]
        if len(feats) != self.num_levels:
            raise ValueError(
                f'IGVGHead needs {self.num_levels} levels, got {len(feats)}.'
            )
        bsz = img_feats.shape[0]
        device = img_feats.device
        words = self.text_inputs(text_feats, text_padding_mask)
        s_global, global_mask = self.mask_decoder(feats, **words)
        nt_logits = self.nt_branch(s_global, **words)

        img_pad = padding_mask(
            batch_img_metas, bsz, img_feats.shape[-2:], device
        )
        aqg_out = self.aqg(
            img_feats,
            text_feats,
            text_padding_mask,
            img_pad if img_pad.any() else None,
        )
        levels = multi_scale_inputs(feats, batch_img_metas)

        # P_r is normalised in the (padded) map; the decoder wants the
        # image frame (it multiplies by the valid ratios itself); the
        # ratios are the same on every level up to rounding
        ratio = levels['valid_ratios'][:, 0]
        points = (aqg_out['ref_points'] / ratio[:, None]).clamp(0.0, 1.0)
        query_pos = self.query_pos(points)
        reference = points
        if self.reference_points is not None:
            reference = self.reference_points(query_pos).sigmoid() + points
        hidden, _ = self.decoder(
            query=aqg_out['queries'],
            query_pos=query_pos,
            reference_points=reference,
            **levels,
            **words,
        )
        # the references are not refined: every layer predicts its box as
        # an offset from the same (inverse-sigmoid) reference
        origin = inverse_sigmoid(reference, eps=self.ref_inverse_sigmoid_eps)
        cls_scores, bbox_preds = [], []
        for lvl in range(hidden.shape[0]):
            cls_scores.append(
                self.classify(lvl, hidden[lvl], text_feats, text_padding_mask)
            )
            tmp = self.reg_branches[lvl](hidden[lvl])
            tmp = torch.cat([tmp[..., :2] + origin, tmp[..., 2:]], -1)
            bbox_preds.append(tmp.sigmoid())

        embed = self.mask_embedding(hidden[-1])
        mask_preds = torch.einsum('bqc,bchw->bqhw', embed, s_global)
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

    def classify(
        self,
        layer: int,
        queries: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor],
    ) -> Tensor:
        """(B, Q, K) class logits of decoder layer ``layer``'s (B, Q, C)
        queries: Deformable DETR's class branch (IGVG's does not read the
        words, which a subclass's may)."""
        return self.cls_branches[layer](queries)

    def mask_embedding(self, queries: Tensor) -> Tensor:
        """The (B, Q, C) mask embeddings of the last layer's queries Q_d,
        dotted with S_global: Q_d itself (Sec. 3.1.2)."""
        return queries

    # ------------------------------------------------------------------ #
    # matching and losses
    # ------------------------------------------------------------------ #
    def assign(
        self,
        cls_score: Tensor,
        bbox_pred: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> Tuple[Tensor, Tensor]:
        """:func:`point_guided_assign` of one image's queries with the
        head's assigner: ``(pos_inds, pos_gt_inds)``; ``img_meta`` holds
        the queries' ``ref_points``."""
        return point_guided_assign(
            self.assigner, cls_score, bbox_pred, gt_instances, img_meta
        )

    def _get_targets_single(
        self,
        cls_score: Tensor,
        bbox_pred: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> tuple:
        """DETR's targets of one image (mmdet's layout,
        :func:`detr_targets`) from :meth:`assign`."""
        pos_inds, pos_gt_inds = self.assign(
            cls_score, bbox_pred, gt_instances, img_meta
        )
        return detr_targets(
            bbox_pred,
            gt_instances,
            img_meta,
            pos_inds,
            pos_gt_inds,
            self.num_classes,
        )

    def loss(
        self,
        feats: Sequence[Tensor],
        img_feats: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """All losses of a batch (:meth:`loss_by_feat`), the targets from
        :func:`referring_targets` (samples with ``gt_instances``,
        ``gt_sem_seg`` and ``metainfo.no_target``); the other inputs as
        :meth:`forward`'s."""
        metas = [s.metainfo for s in batch_data_samples]
        pad_shape = tuple(metas[0]['batch_input_shape'][:2])
        gts = self.loss_targets(batch_data_samples, pad_shape)
        outs = self(feats, img_feats, text_feats, text_padding_mask, metas)
        return self.loss_by_feat(outs, gts, metas, batch_data_samples)

    def loss_targets(
        self, batch_data_samples: SampleList, pad_shape: Tuple[int, int]
    ) -> List[InstanceData]:
        """The ground truth of the matching, per sample: its referred
        objects (:func:`referring_targets`, masks at ``pad_shape``)."""
        return [referring_targets(s, pad_shape) for s in batch_data_samples]

    def loss_by_feat(
        self,
        outs: Dict[str, Tensor],
        batch_gt_instances: List[InstanceData],
        batch_img_metas: List[dict],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """mmdet's DETR losses of every decoder layer (of :meth:`forward`'s
        ``outs``, against ``batch_gt_instances`` from
        :func:`referring_targets`), then the instance masks (the last
        layer's assignment), the global mask, the no-target branch and the
        minimap (from ``batch_data_samples``)."""
        metas = with_ref_points(batch_img_metas, outs['points'])
        losses = super().loss_by_feat(
            outs['cls_scores'],
            outs['bbox_preds'],
            None,
            None,
            batch_gt_instances,
            metas,
        )
        # query-instance matching: the last layer's assignment, as the one
        # of its DETR loss (the Hungarian assignment is deterministic)
        assignments = assign_layer(
            self.assign, outs, -1, batch_gt_instances, metas
        )
        losses.update(
            self.loss_instance_masks(
                outs['mask_preds'], assignments, batch_gt_instances
            )
        )
        pad_shape = tuple(batch_img_metas[0]['batch_input_shape'][:2])
        merged = merged_targets(batch_data_samples, pad_shape)
        losses.update(self.loss_global(outs['global_mask'], merged))
        losses.update(
            self.nt_branch.loss_by_samples(
                outs['nt_logits'], batch_data_samples
            )
        )
        losses.update(self.aqg.loss(outs['score_map'], batch_data_samples))
        return losses

    def loss_instance_masks(
        self,
        mask_preds: Tensor,
        assignments: Sequence[Tuple[Tensor, Tensor]],
        batch_gt_instances: Sequence[InstanceData],
    ) -> Dict[str, Tensor]:
        """:func:`instance_mask_losses` (IGVG Eq. 6) of the matched
        (``assignments``: ``(pos_inds, pos_gt_inds)`` per image) and the
        unmatched queries, against ``batch_gt_instances[i].masks``."""
        return instance_mask_losses(
            mask_preds,
            assignments,
            [gt.masks for gt in batch_gt_instances],
            self.loss_mask,
            self.loss_dice,
            self.neg_weight,
        )

    def loss_global(
        self, global_mask: Tensor, merged: Tensor
    ) -> Dict[str, Tensor]:
        """:func:`global_mask_losses` of the (B, 1, h, w) logits against
        the (B, H, W) merged masks."""
        return global_mask_losses(
            global_mask, merged, self.loss_global_mask, self.loss_global_dice
        )

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
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
        """:func:`post_process` of the network outputs with the head's
        ``test_cfg``; boxes and points in the original frame when
        ``rescale_boxes`` (None: as ``rescale``)."""
        return post_process(
            outs,
            target_probs(outs['cls_scores'][-1], self.use_sigmoid),
            batch_img_metas,
            self.test_cfg,
            rescale,
            rescale if rescale_boxes is None else rescale_boxes,
        )
