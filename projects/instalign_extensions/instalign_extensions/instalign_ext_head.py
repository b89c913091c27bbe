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
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType


@MODELS.register_module()
class InstAlignExtHead(InstAlignHead):
    """:class:`InstAlignHead` with options of ours, all off by default.

    Every option works through one of the core head's hooks
    (:meth:`condition_pixels`, :meth:`_ground_truth`,
    :meth:`_loss_matched`, :meth:`loss_merged_mask`,
    :meth:`merged_output`); with all of them off the head is
    :class:`InstAlignHead`. The no-target samples are weighted in the
    no-target BCE by ``loss_nt=dict(type='ClassWeightedBCELoss',
    class_weight=(1.0, w))``, a loss config of the core head.

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
        pixel_text_attn_cfg: OptConfigType = None,
        mask_feature_pos: bool = False,
        **kwargs,
    ) -> None:
        merge = (kwargs.get('test_cfg') or {}).get('merge_mode', 'ia')
        if merge not in ('ia', 'union'):
            raise ValueError(
                f"test_cfg.merge_mode must be 'ia' or 'union', got {merge!r}"
            )
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
    # losses: context instances and their categories, merged dice
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
        self, queries: Tensor, matched: InstanceData, avg_factor: float
    ) -> Dict[str, Tensor]:
        """``loss_context_cls``: the category of every matched query."""
        if self.context_cls_embed is None:
            return dict()
        logits = self.context_cls_embed(queries)
        if len(queries) == 0:
            # keep a gradient path (DDP needs one for every parameter)
            return dict(loss_context_cls=logits.sum() * 0.0)
        if 'categories' not in matched:
            raise KeyError(
                'num_context_classes needs "categories" in '
                'gt_context_instances (LoadReferringAnnotations with '
                'with_context=True gives them)'
            )
        return dict(
            loss_context_cls=self.loss_context_cls(
                logits, matched.categories, avg_factor=avg_factor
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

    # ------------------------------------------------------------------ #
    # predict: the union of the output instances as the merged mask
    # ------------------------------------------------------------------ #
    def merged_output(self, inst_masks: Tensor, ia_mask: Tensor) -> Tensor:
        if self.test_cfg.get('merge_mode', 'ia') != 'union':
            return ia_mask
        return inst_masks.any(0)
