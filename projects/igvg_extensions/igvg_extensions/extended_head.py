# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's head with the synthetic benchmark's extensions: context
instances, words for the classifier and the decoder, a mask embedding and
coarse mask losses."""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers.transformer import MLP
from mmdet.models.task_modules.assigners.match_cost import (
    ClassificationCost,
    FocalLossCost,
)
from mmdet.utils import reduce_mean
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.heads import IGVGHead
from mmgres.models.heads.igvg.matching import assign_layer, with_ref_points
from mmgres.models.layers import build_word_attention
from mmgres.models.task_modules import ContextFocalLossCost
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, SampleList

from .sentence_no_target_branch import SentenceNoTargetBranch
from .text_deformable_decoder import TextDeformableDetrTransformerDecoder
from .text_gated_unet import TextGatedUNetMaskDecoder


@MODELS.register_module()
class IGVGExtendedHead(IGVGHead):
    """:class:`~mmgres.models.heads.IGVGHead` with options for models
    trained from scratch on the synthetic benchmark, none of them IGVG's.

    Each option overrides one of :class:`IGVGHead`'s hooks (named in
    brackets):

    - **The words** reach the global branch and, with
      ``decoder_text_attn_cfg``, the decoder (:meth:`text_inputs`): the
      mask decoder must be a :class:`TextGatedUNetMaskDecoder` and the
      no-target branch a :class:`SentenceNoTargetBranch`.
    - ``cls_text_attn_cfg``: the class branch reads each layer's queries
      after one cross-attention to the words (residual + LayerNorm); the
      box and mask branches read the plain queries (:meth:`classify`).
    - ``decoder_text_attn_cfg``: every decoder layer is a
      :class:`TextDeformableDetrDecoderLayer` (a cross-attention to the
      words between its self-attention and its deformable attention;
      :meth:`build_decoder`).
    - ``num_mask_embed_layers``: ``Q_s = MLP(Q_d) · S_global`` with an
      mmdet ``MLP`` of that depth (Mask2Former's mask embedding) instead of
      ``Q_d · S_global`` (:meth:`mask_embedding`).
    - ``mask_loss_stride``: the mask losses compare the stride-4 logits
      with the targets area-downsampled to the padded input size / stride
      (soft targets, 16 times fewer pixels at 4), rather than upsampling
      the logits to the input (:meth:`loss_instance_masks`,
      :meth:`loss_global`).
    - ``context_instances``: the DETR matching of every layer runs against
      every object of the image (``gt_context_instances``, labels 0 for
      the referred objects and 1, DETR's background, for the others). A
      query matched to another object gets the class "not target", the
      box losses and its object's instance mask; only unmatched queries
      take the negative mask term. mmdet's ``ClassificationCost`` reads
      label 1 as is (it costs ``-p_not_target``); with a sigmoid
      classifier use :class:`ContextFocalLossCost`. The global mask, the
      no-target branch, the minimap and the prediction see the referred
      objects only (:meth:`loss_targets`).
    - ``num_context_classes``: with context instances, a linear category
      classifier on the matched queries of every layer
      (``loss_context_cls``, softmax CE averaged over them; added in
      :meth:`loss_by_feat`).

    Args:
        context_instances (bool): See above. Defaults to False.
        num_context_classes (int): See above; 0 disables it.
        loss_context_cls (dict): The category loss.
        cls_text_attn_cfg (dict, optional): mmcv ``MultiheadAttention``
            kwargs of the classifier's word attention, e.g.
            ``dict(num_heads=4)``.
        decoder_text_attn_cfg (dict, optional): The same, for every
            decoder layer.
        num_mask_embed_layers (int): Depth of the mask embedding; 0 uses
            Q_d itself.
        mask_loss_stride (int): See above; 1 is IGVG's.
        **kwargs: :class:`IGVGHead`'s arguments.
    """

    def __init__(
        self,
        context_instances: bool = False,
        num_context_classes: int = 0,
        loss_context_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0
        ),
        cls_text_attn_cfg: OptConfigType = None,
        decoder_text_attn_cfg: OptConfigType = None,
        num_mask_embed_layers: int = 0,
        mask_loss_stride: int = 1,
        **kwargs,
    ) -> None:
        if num_context_classes < 0:
            raise ValueError(
                f'num_context_classes must be >= 0, got {num_context_classes}'
            )
        if num_context_classes and not context_instances:
            raise ValueError(
                'num_context_classes needs context_instances=True (the '
                'categories come with gt_context_instances).'
            )
        if mask_loss_stride < 1:
            raise ValueError(
                f'mask_loss_stride must be >= 1, got {mask_loss_stride}'
            )
        # read by _init_layers, which IGVGHead.__init__ calls
        self.context_instances = bool(context_instances)
        self.num_context_classes = int(num_context_classes)
        self.cls_text_attn_cfg = cls_text_attn_cfg
        self.decoder_text_attn_cfg = decoder_text_attn_cfg
        self.num_mask_embed_layers = int(num_mask_embed_layers)
        self.mask_loss_stride = int(mask_loss_stride)
        super().__init__(**kwargs)
        if not isinstance(self.mask_decoder, TextGatedUNetMaskDecoder):
            raise TypeError(
                f'{type(self).__name__} gives the words to its mask decoder:'
                ' use TextGatedUNetMaskDecoder.'
            )
        if not isinstance(self.nt_branch, SentenceNoTargetBranch):
            raise TypeError(
                f'{type(self).__name__} gives the words to its no-target '
                'branch: use SentenceNoTargetBranch.'
            )
        self.loss_context_cls = (
            MODELS.build(loss_context_cls) if num_context_classes else None
        )
        if self.context_instances and self.use_sigmoid:
            for cost in self.assigner.match_costs:
                plain = type(cost) in (ClassificationCost, FocalLossCost)
                if plain and not getattr(cost, 'binary_input', False):
                    raise ValueError(
                        f'context_instances with a sigmoid classifier: '
                        f'{type(cost).__name__} cannot cost the objects '
                        'that are not targets (label 1, no logit); use '
                        f'{ContextFocalLossCost.__name__} in '
                        'train_cfg.assigner.match_costs.'
                    )

    def _init_layers(self) -> None:
        super()._init_layers()
        dims = self.embed_dims
        self.cls_text_attn = self.cls_text_norm = None
        if self.cls_text_attn_cfg is not None:
            self.cls_text_attn, self.cls_text_norm = build_word_attention(
                self.cls_text_attn_cfg, dims
            )
        self.mask_embed = None
        if self.num_mask_embed_layers:
            self.mask_embed = MLP(dims, dims, dims, self.num_mask_embed_layers)
        self.context_cls_embed = None
        if self.num_context_classes:
            self.context_cls_embed = nn.Linear(dims, self.num_context_classes)

    def build_decoder(self, cfg: ConfigDict) -> nn.Module:
        """With ``decoder_text_attn_cfg``, a
        :class:`TextDeformableDetrTransformerDecoder`; else IGVG's."""
        if self.decoder_text_attn_cfg is None:
            return super().build_decoder(cfg)
        return TextDeformableDetrTransformerDecoder(
            text_attn_cfg=self.decoder_text_attn_cfg, **cfg
        )

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    def text_inputs(
        self, text_feats: Tensor, text_padding_mask: Optional[Tensor]
    ) -> dict:
        """The words, for the gated UNet, the sentence no-target branch and
        (with ``decoder_text_attn_cfg``) the decoder layers; mmdet's
        decoder layers pass them on to attentions that ignore them."""
        return dict(text_feats=text_feats, text_padding_mask=text_padding_mask)

    def classify(
        self,
        layer: int,
        queries: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor],
    ) -> Tensor:
        """With ``cls_text_attn_cfg``, the class branch reads the queries
        after one attention to the words (residual + LayerNorm)."""
        if self.cls_text_attn is not None:
            queries = self.cls_text_norm(
                self.cls_text_attn(
                    query=queries,
                    key=text_feats,
                    value=text_feats,
                    key_padding_mask=text_padding_mask,
                )
            )
        return super().classify(layer, queries, text_feats, text_padding_mask)

    def mask_embedding(self, queries: Tensor) -> Tensor:
        """With ``num_mask_embed_layers``, ``MLP(Q_d)``; else Q_d."""
        if self.mask_embed is None:
            return queries
        return self.mask_embed(queries)

    # ------------------------------------------------------------------ #
    # losses
    # ------------------------------------------------------------------ #
    def loss_targets(
        self, batch_data_samples: SampleList, pad_shape: Tuple[int, int]
    ) -> List[InstanceData]:
        """With ``context_instances``, every object of the image
        (``gt_context_instances``); else IGVG's targets."""
        gts = [
            referring_targets(s, pad_shape, context=self.context_instances)
            for s in batch_data_samples
        ]
        if self.context_cls_embed is not None:
            self._check_categories(gts)
        return gts

    def loss_by_feat(
        self,
        outs: Dict[str, Tensor],
        batch_gt_instances: List[InstanceData],
        batch_img_metas: List[dict],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """:meth:`IGVGHead.loss_by_feat`, plus ``loss_context_cls`` of
        every decoder layer (``d{i}.`` prefixes as the DETR losses)."""
        losses = super().loss_by_feat(
            outs, batch_gt_instances, batch_img_metas, batch_data_samples
        )
        if self.context_cls_embed is None:
            return losses
        metas = with_ref_points(batch_img_metas, outs['points'])
        num_layers = outs['cls_scores'].shape[0]
        for lvl in range(num_layers):
            assignments = assign_layer(
                self.assign, outs, lvl, batch_gt_instances, metas
            )
            prefix = '' if lvl == num_layers - 1 else f'd{lvl}.'
            losses[f'{prefix}loss_context_cls'] = self.loss_categories(
                outs['queries'][lvl], assignments, batch_gt_instances
            )
        return losses

    def loss_categories(
        self,
        queries: Tensor,
        assignments: Sequence[Tuple[Tensor, Tensor]],
        batch_gt_instances: Sequence[InstanceData],
    ) -> Tensor:
        """Category loss of one decoder layer's (B, Q, C) queries: each
        matched query (referred object or not) against its object's
        ``categories``, averaged over them; 0 (with a graph) when none is
        matched. Every rank joins the ``reduce_mean`` of the count."""
        feats, cats = [], []
        for i, (pos_inds, pos_gt_inds) in enumerate(assignments):
            feats.append(queries[i, pos_inds])
            cats.append(batch_gt_instances[i].categories[pos_gt_inds])
        feats = torch.cat(feats)
        num = max(reduce_mean(queries.new_tensor([len(feats)])).item(), 1.0)
        if len(feats) == 0:
            return self.context_cls_embed(queries).sum() * 0.0
        return self.loss_context_cls(
            self.context_cls_embed(feats), torch.cat(cats), avg_factor=num
        )

    def _check_categories(self, gts: Sequence[InstanceData]) -> None:
        for gt in gts:
            if 'categories' not in gt:
                raise ValueError(
                    'num_context_classes > 0 needs "categories" in '
                    'gt_context_instances (the dataset with '
                    'with_context=True and PackReferringInputs give them).'
                )
            cats = gt.categories
            if len(cats) and (
                int(cats.min()) < 0
                or int(cats.max()) >= self.num_context_classes
            ):
                raise ValueError(
                    f'gt_context_instances.categories must be in [0, '
                    f'{self.num_context_classes}) (num_context_classes), '
                    f'got {cats.tolist()}.'
                )

    def loss_size(self, shape: Sequence[int]) -> Tuple[int, int]:
        """(h, w) of the mask losses for masks of the padded ``shape``."""
        s = self.mask_loss_stride
        return (math.ceil(shape[0] / s), math.ceil(shape[1] / s))

    def coarse_targets(self, masks: Tensor) -> Tensor:
        """(N, H, W) binary masks as float at :meth:`loss_size`: the
        fraction of each cell covered (unchanged with stride 1)."""
        size = self.loss_size(masks.shape[-2:])
        masks = masks.float()
        if tuple(masks.shape[-2:]) == size or masks.shape[0] == 0:
            return masks.reshape(masks.shape[0], *size)
        return F.interpolate(masks[:, None], size=size, mode='area')[:, 0]

    def loss_instance_masks(
        self,
        mask_preds: Tensor,
        assignments: Sequence[Tuple[Tensor, Tensor]],
        batch_gt_instances: Sequence[InstanceData],
    ) -> Dict[str, Tensor]:
        """:meth:`IGVGHead.loss_instance_masks` against the targets at
        :meth:`loss_size` (:meth:`coarse_targets`)."""
        coarse = [
            InstanceData(masks=self.coarse_targets(gt.masks))
            for gt in batch_gt_instances
        ]
        return super().loss_instance_masks(mask_preds, assignments, coarse)

    def loss_global(
        self, global_mask: Tensor, merged: Tensor
    ) -> Dict[str, Tensor]:
        """:meth:`IGVGHead.loss_global` against the merged masks at
        :meth:`loss_size`."""
        return super().loss_global(global_mask, self.coarse_targets(merged))
