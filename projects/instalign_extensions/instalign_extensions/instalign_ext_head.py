# Copyright (c) mmgres contributors. All rights reserved.
"""InstAlign's head with the options that helped the tiny model on the
synthetic benchmark. None of them is in the paper."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.heads import InstAlignHead
from mmgres.models.layers import build_word_attention
from mmgres.models.utils.output_frame import mask_logits_to_frame
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType


@MODELS.register_module()
class InstAlignExtHead(InstAlignHead):
    """:class:`InstAlignHead` with options of ours, all off by default.

    Every option works through one of the core head's hooks
    (:meth:`condition_pixels`, :meth:`_ground_truth`,
    :meth:`_loss_matched`, :meth:`loss_merged_mask`,
    :meth:`loss_no_target`, :meth:`masks_to_frame`); with all of them off
    the head is :class:`InstAlignHead`.

    Args:
        context_instances (bool): Every object of the image is a ground
            truth of the instance matching, not only the targets: matched
            queries learn the masks of all objects, and their relevance
            target is 1 for the expression's targets and 0 for the other
            objects (``RelevanceCost`` and ``POACost`` see which is which;
            POA is applied to the targets only). The samples must carry
            ``gt_context_instances``: build the training dataset and
            ``LoadReferringAnnotations`` with ``with_context=True``.
        num_context_classes (int): With ``context_instances``, the number
            of object categories (``gt_context_instances.categories``): a
            linear classifier on the queries is trained, at every decoder
            layer, to give each matched query its object's category
            (``loss_context_cls``), as Mask2Former's class head. 0 turns it
            off.
        loss_context_cls (dict): The category loss (softmax CE over the
            matched queries, normalised as the mask losses).
        loss_merged_dice (dict, optional): A dice loss on IA's merged mask
            (at the input resolution, per sample), added to its BCE.
        nt_pos_weight (float): Weight of the no-target samples in the
            no-target BCE (target samples weigh 1), normalised by the sum
            of the weights.
        pixel_text_attn_cfg (dict, optional): If given (kwargs of mmcv's
            ``MultiheadAttention``, e.g. ``dict(num_heads=4)``), the pixel
            features (the decoder's visual inputs and the mask features)
            attend to the words once, before the decoder (residual +
            LayerNorm), so that the visual side is text-aware too.
        mask_feature_pos (bool): A learned 1×1 projection of the sine
            positional encoding is added to the mask features, so that
            ``m_i = MLP(q_i)·F₁`` can tell apart two identical objects at
            different places.
        **kwargs: :class:`InstAlignHead`'s arguments. ``test_cfg`` may set
            ``merge_mode``: ``'ia'`` (default: the merged mask is IA's
            output) or ``'union'`` (the union of the output instances'
            masks; IA is still trained).
    """

    def __init__(
        self,
        *args,
        context_instances: bool = False,
        num_context_classes: int = 0,
        loss_context_cls: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0
        ),
        loss_merged_dice: OptConfigType = None,
        nt_pos_weight: float = 1.0,
        pixel_text_attn_cfg: OptConfigType = None,
        mask_feature_pos: bool = False,
        **kwargs,
    ) -> None:
        merge = (kwargs.get('test_cfg') or {}).get('merge_mode', 'ia')
        if merge not in ('ia', 'union'):
            raise ValueError(
                f"test_cfg.merge_mode must be 'ia' or 'union', got {merge!r}"
            )
        if nt_pos_weight <= 0:
            raise ValueError(f'nt_pos_weight must be > 0, got {nt_pos_weight}')
        if num_context_classes < 0:
            raise ValueError(
                f'num_context_classes must be >= 0, got {num_context_classes}'
            )
        if num_context_classes and not context_instances:
            raise ValueError(
                'num_context_classes needs context_instances=True (the '
                'categories come with gt_context_instances)'
            )
        super().__init__(*args, **kwargs)
        feat_channels = self.query_feat.embedding_dim
        out_channels = self.mask_embed[-1].out_features
        self.context_instances = context_instances
        self.num_context_classes = num_context_classes
        self.context_cls_embed = None
        if num_context_classes:
            self.context_cls_embed = nn.Linear(
                feat_channels, num_context_classes
            )
            self.loss_context_cls = MODELS.build(loss_context_cls)
        self.loss_merged_dice = (
            MODELS.build(loss_merged_dice) if loss_merged_dice else None
        )
        self.nt_pos_weight = float(nt_pos_weight)
        self.pixel_text_attn = None
        if pixel_text_attn_cfg is not None:
            self.pixel_text_attn, self.pixel_text_norm = build_word_attention(
                pixel_text_attn_cfg, feat_channels
            )
        self.mask_pos_proj = (
            nn.Conv2d(feat_channels, out_channels, 1)
            if mask_feature_pos
            else None
        )

    # ------------------------------------------------------------------ #
    # forward: positions in the mask features, pixels attend to the words
    # ------------------------------------------------------------------ #
    def condition_pixels(
        self,
        mask_features: Tensor,
        decoder_inputs: List[Tensor],
        decoder_pos: List[Tensor],
        text_feats: Tensor,
        text_pad: Tensor,
    ) -> Tuple[Tensor, List[Tensor]]:
        if self.mask_pos_proj is not None:
            b, _, h, w = mask_features.shape
            pos = self.decoder_positional_encoding(
                mask_features.new_zeros((b, h, w), dtype=torch.bool)
            )
            mask_features = mask_features + self.mask_pos_proj(pos)
        if self.pixel_text_attn is not None:
            decoder_inputs = [
                self._attend_words(v, pos, text_feats, text_pad)
                for v, pos in zip(decoder_inputs, decoder_pos)
            ]
            b, c, h, w = mask_features.shape
            flat = mask_features.flatten(2).permute(0, 2, 1)
            flat = self._attend_words(flat, None, text_feats, text_pad)
            mask_features = flat.permute(0, 2, 1).reshape(b, c, h, w)
        return mask_features, decoder_inputs

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

    # ------------------------------------------------------------------ #
    # losses: context instances and their categories, merged dice,
    # weighted no-target samples
    # ------------------------------------------------------------------ #
    def _ground_truth(
        self, data_sample, pad_shape: Sequence[int]
    ) -> InstanceData:
        """Every object of the image with ``context_instances`` (labels 0
        for the targets, 1 for the others), else the targets."""
        if not self.context_instances:
            return super()._ground_truth(data_sample, pad_shape)
        return referring_targets(data_sample, pad_shape, context=True)

    def _loss_matched(
        self,
        queries: Tensor,
        batch_idx: Tensor,
        pos_idx: Tensor,
        matched: InstanceData,
        num_total: float,
    ) -> Dict[str, Tensor]:
        """``loss_context_cls``: the category of every matched query."""
        if self.context_cls_embed is None:
            return dict()
        if len(pos_idx) == 0:
            # keep a gradient path (DDP needs one for every parameter)
            zero = self.context_cls_embed(queries).sum() * 0.0
            return dict(loss_context_cls=zero)
        if 'categories' not in matched:
            raise KeyError(
                'num_context_classes needs "categories" in '
                'gt_context_instances (LoadReferringAnnotations with '
                'with_context=True gives them)'
            )
        logits = self.context_cls_embed(queries[batch_idx, pos_idx])
        return dict(
            loss_context_cls=self.loss_context_cls(
                logits, matched.categories, avg_factor=num_total
            )
        )

    def loss_merged_mask(
        self, logits: Tensor, gt: Tensor
    ) -> Dict[str, Tensor]:
        """IA's weighted BCE, plus ``loss_merged_dice`` when given."""
        losses = super().loss_merged_mask(logits, gt)
        if self.loss_merged_dice is not None:
            losses['loss_merged_dice'] = self.loss_merged_dice(
                logits.flatten(1),
                gt.flatten(1).float(),
                avg_factor=logits.shape[0],
            )
        return losses

    def loss_no_target(self, nt_logit: Tensor, nt_gt: Tensor) -> Tensor:
        """The no-target BCE with the no-target samples weighted
        ``nt_pos_weight``, over the sum of the weights."""
        weight = torch.where(
            nt_gt,
            nt_logit.new_tensor(self.nt_pos_weight),
            nt_logit.new_tensor(1.0),
        )
        return self.loss_nt(
            nt_logit, nt_gt.float(), weight=weight, avg_factor=weight.sum()
        )

    # ------------------------------------------------------------------ #
    # predict: the union of the output instances as the merged mask
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
        if self.test_cfg.get('merge_mode', 'ia') != 'union':
            return super().masks_to_frame(
                inst_logits, merged_logit, meta, pad_shape, rescale, mask_thr
            )
        inst_masks = mask_logits_to_frame(
            inst_logits, meta, pad_shape, rescale, mask_thr
        )
        return inst_masks, inst_masks.any(0)
