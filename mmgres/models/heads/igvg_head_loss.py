# Copyright (c) mmgres contributors. All rights reserved.
"""Training targets and losses of :class:`IGVGHead`.

:class:`IGVGLossMixin` holds the loss side of IGVG's head (query
assignment, DETR losses per decoder layer, instance and global mask
losses); :class:`~mmgres.models.heads.IGVGHead` mixes it in, so that
``igvg_head.py`` keeps only the network (initialisation, forward) and the
prediction.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.structures.bbox import (
    bbox_cxcywh_to_xyxy,
    bbox_xyxy_to_cxcywh,
    get_box_tensor,
)
from mmdet.utils import reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.utils import SampleList


class IGVGLossMixin:
    """Training targets and losses of :class:`IGVGHead` (see its class
    docstring for the matching and the losses).

    A plain mixin (not registered, no ``__init__``): it is meant to be
    mixed into :class:`IGVGHead` before ``BaseModule`` and relies on these
    attributes of the head (set in ``IGVGHead.__init__``) and on its
    forward:

    - ``self.assigner``: the ``HungarianAssigner`` built from
      ``train_cfg.assigner`` (``self.train_cfg`` itself is not read here);
    - the loss modules ``self.loss_cls``, ``self.loss_bbox``,
      ``self.loss_iou``, ``self.loss_mask``, ``self.loss_dice``,
      ``self.loss_global_mask`` and ``self.loss_global_dice``;
    - ``self.use_sigmoid`` and ``self.cls_out_channels`` (classification
      layout), ``self.neg_weight`` (λ_neg) and ``self.mask_loss_stride``;
    - ``self.context_instances``, ``self.num_context_classes``,
      ``self.context_cls_embed`` and ``self.loss_context_cls`` (the
      context-instance option, ours; None when off);
    - the sub-modules ``self.nt_branch`` (``loss_by_samples``) and
      ``self.aqg`` (``loss``);
    - ``self.forward`` (called as ``self(...)`` by :meth:`loss`).
    """

    # ------------------------------------------------------------------ #
    # targets
    # ------------------------------------------------------------------ #
    @staticmethod
    def gt_instances_of(
        data_sample, pad_shape, context: bool = False
    ) -> InstanceData:
        """Ground truth of the matching of a sample: ``labels``, ``bboxes``
        (xyxy, image frame) and ``masks`` (bool, (N, H_pad, W_pad)).

        Without ``context``: the referred objects (``gt_instances``),
        labels all 0 ("target"); none for a no-target sample. With
        ``context``: every object of the image (``gt_context_instances``),
        label 0 for the referred ones and 1 ("not target", the background
        label) for the others (all of them in a no-target sample), plus
        their ``categories`` when the sample has them.
        """
        no_target = data_sample.metainfo.get('no_target', False)
        if context:
            if 'gt_context_instances' not in data_sample:
                raise ValueError(
                    'IGVGHead(context_instances=True) needs '
                    '"gt_context_instances" in the training samples: build '
                    'the training dataset with with_context=True and load '
                    'its annotations with '
                    'LoadReferringAnnotations(with_context=True).'
                )
            gt = data_sample.gt_context_instances
        else:
            gt = data_sample.gt_instances
        bboxes = get_box_tensor(gt.bboxes).float()
        device = bboxes.device
        n = bboxes.shape[0]
        if context:
            labels = (gt.labels.to(device) != 0).long()
            if no_target:
                labels = torch.ones_like(labels)
        elif no_target:
            n = 0
            bboxes = bboxes[:0]
        if 'masks' in gt:
            masks = gt.masks
            if hasattr(masks, 'to_tensor'):
                masks = masks.to_tensor(dtype=torch.bool, device=device)
            masks = masks.bool()[:n]
            h, w = masks.shape[-2:]
            if (h, w) != tuple(pad_shape):
                masks = F.pad(
                    masks[:, : pad_shape[0], : pad_shape[1]],
                    (0, max(0, pad_shape[1] - w), 0, max(0, pad_shape[0] - h)),
                )
        else:
            masks = torch.zeros(
                (n, *pad_shape), dtype=torch.bool, device=device
            )
        if not context:
            labels = torch.zeros(n, dtype=torch.long, device=device)
        out = InstanceData(labels=labels, bboxes=bboxes, masks=masks)
        if context and 'categories' in gt:
            out.categories = gt.categories.long().to(device)
        return out

    def _get_targets_single(
        self,
        cls_score: Tensor,
        bbox_pred: Tensor,
        points: Tensor,
        gt_instances: InstanceData,
        img_meta: dict,
    ) -> dict:
        """Assign one image's queries.

        Args:
            cls_score (Tensor): (Q, K) logits.
            bbox_pred (Tensor): (Q, 4) normalised cxcywh.
            points (Tensor): (Q, 2) normalised reference points.
            gt_instances (InstanceData): ``labels`` (0 target; 1 another
                object of the image, with context instances), ``bboxes``
                (xyxy).
            img_meta (dict): With ``img_shape``.

        Returns:
            dict: ``labels`` (Q,): the label of the matched object (0 for a
            target; 1, background, for another object) and 1 for the
            unmatched queries; ``bbox_targets`` (Q, 4) normalised cxcywh;
            ``pos_inds`` (P,) the matched queries (targets and other
            objects) and ``pos_gt_inds`` (P,) their ground-truth indices.
        """
        img_h, img_w = img_meta['img_shape'][:2]
        factor = bbox_pred.new_tensor([img_w, img_h, img_w, img_h])
        num_queries = bbox_pred.shape[0]
        pred_instances = InstanceData(
            scores=cls_score,
            bboxes=bbox_cxcywh_to_xyxy(bbox_pred) * factor,
            points=points,
        )
        gt = InstanceData(
            labels=gt_instances.labels, bboxes=gt_instances.bboxes
        )
        assign_result = self.assigner.assign(
            pred_instances=pred_instances, gt_instances=gt, img_meta=img_meta
        )
        gt_inds = assign_result.gt_inds
        pos_inds = torch.nonzero(gt_inds > 0, as_tuple=False).squeeze(-1)
        pos_gt_inds = gt_inds[pos_inds] - 1
        labels = gt_inds.new_ones(num_queries)  # background
        labels[pos_inds] = gt_instances.labels[pos_gt_inds]
        bbox_targets = bbox_pred.new_zeros(num_queries, 4)
        if len(pos_inds):
            bbox_targets[pos_inds] = bbox_xyxy_to_cxcywh(
                gt_instances.bboxes[pos_gt_inds] / factor
            )
        return dict(
            labels=labels,
            bbox_targets=bbox_targets,
            pos_inds=pos_inds,
            pos_gt_inds=pos_gt_inds,
        )

    def get_targets(
        self,
        cls_scores: Tensor,
        bbox_preds: Tensor,
        points: Tensor,
        batch_gt_instances: List[InstanceData],
        batch_img_metas: List[dict],
    ) -> List[dict]:
        """:meth:`_get_targets_single` for every image of one layer's
        predictions ((B, Q, K), (B, Q, 4), (B, Q, 2))."""
        with torch.no_grad():
            return [
                self._get_targets_single(
                    cls_scores[i].detach(),
                    bbox_preds[i].detach(),
                    points[i].detach(),
                    batch_gt_instances[i],
                    batch_img_metas[i],
                )
                for i in range(cls_scores.shape[0])
            ]

    # ------------------------------------------------------------------ #
    # losses
    # ------------------------------------------------------------------ #
    def _cls_avg_factor(self, labels: Tensor, num_pos: int) -> float:
        if self.use_sigmoid:
            total = labels.new_tensor([float(num_pos)]).float()
        else:
            weight = getattr(self.loss_cls, 'class_weight', None)
            if weight is None:
                total = labels.new_tensor([float(labels.numel())]).float()
            else:
                # float: class weights such as [1.0, 0.1] (DETR's
                # bg_cls_weight) must not be cast to the labels' int type
                weight = torch.as_tensor(
                    weight, dtype=torch.float, device=labels.device
                )
                total = weight[labels].sum()[None]
        return max(reduce_mean(total).item(), 1.0)

    def loss_detr_layer(
        self,
        cls_scores: Tensor,
        bbox_preds: Tensor,
        targets: List[dict],
        batch_img_metas: List[dict],
    ) -> Dict[str, Tensor]:
        """DETR losses of one decoder layer.

        Args:
            cls_scores (Tensor): (B, Q, K) logits.
            bbox_preds (Tensor): (B, Q, 4) normalised cxcywh.
            targets (list[dict]): Output of :meth:`get_targets`.
            batch_img_metas (list[dict]): With ``img_shape``.

        Returns:
            dict: ``loss_cls``, ``loss_bbox``, ``loss_iou``. The box losses
            cover every matched query (with context instances, the other
            objects too) and are averaged over them; the focal class loss
            is averaged over the queries matched to targets.
        """
        labels = torch.cat([t['labels'] for t in targets])
        num_pos = sum(len(t['pos_inds']) for t in targets)
        num_target = sum(int((t['labels'] == 0).sum()) for t in targets)
        loss_cls = self.loss_cls(
            cls_scores.reshape(-1, self.cls_out_channels),
            labels,
            avg_factor=self._cls_avg_factor(labels, num_target),
        )
        avg = max(reduce_mean(cls_scores.new_tensor([num_pos])).item(), 1.0)
        if num_pos == 0:
            zero = bbox_preds.sum() * 0.0
            return dict(loss_cls=loss_cls, loss_bbox=zero, loss_iou=zero)
        preds, tgts, factors = [], [], []
        for i, t in enumerate(targets):
            pos = t['pos_inds']
            img_h, img_w = batch_img_metas[i]['img_shape'][:2]
            preds.append(bbox_preds[i, pos])
            tgts.append(t['bbox_targets'][pos])
            factors.append(
                bbox_preds.new_tensor([img_w, img_h, img_w, img_h]).expand(
                    len(pos), 4
                )
            )
        preds, tgts = torch.cat(preds), torch.cat(tgts)
        factors = torch.cat(factors)
        loss_bbox = self.loss_bbox(preds, tgts, avg_factor=avg)
        loss_iou = self.loss_iou(
            bbox_cxcywh_to_xyxy(preds) * factors,
            bbox_cxcywh_to_xyxy(tgts) * factors,
            avg_factor=avg,
        )
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_iou=loss_iou)

    def loss_context_cls_layer(
        self,
        queries: Tensor,
        targets: List[dict],
        batch_gt_instances: List[InstanceData],
    ) -> Tensor:
        """Category loss of one decoder layer (``num_context_classes``).

        Args:
            queries (Tensor): (B, Q, C) decoder outputs of the layer.
            targets (list[dict]): The layer's :meth:`get_targets`.
            batch_gt_instances (list[InstanceData]): With ``categories``.

        Returns:
            Tensor: ``loss_context_cls`` of the matched queries (all
            objects), averaged over them; 0 (with a graph) when none is
            matched.
        """
        feats, cats = [], []
        for i, t in enumerate(targets):
            feats.append(queries[i, t['pos_inds']])
            cats.append(batch_gt_instances[i].categories[t['pos_gt_inds']])
        feats = torch.cat(feats)
        # every rank takes part in the reduce_mean, matched queries or not,
        # so that the ranks' collectives stay paired
        num = max(reduce_mean(queries.new_tensor([len(feats)])).item(), 1.0)
        if len(feats) == 0:
            return self.context_cls_embed(queries).sum() * 0.0
        return self.loss_context_cls(
            self.context_cls_embed(feats), torch.cat(cats), avg_factor=num
        )

    def _check_categories(self, gts: List[InstanceData]) -> None:
        for gt in gts:
            if 'categories' not in gt:
                raise ValueError(
                    'IGVGHead(num_context_classes>0) needs '
                    '"categories" in gt_context_instances (the dataset '
                    'with with_context=True and PackReferringInputs give '
                    'them).'
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

    @staticmethod
    def resize_targets(masks: Tensor, size: Tuple[int, int]) -> Tensor:
        """(N, H, W) binary masks as float at ``size``: unchanged at their
        own size, else area-averaged (the fraction of each cell covered)."""
        masks = masks.float()
        if tuple(masks.shape[-2:]) == tuple(size) or masks.shape[0] == 0:
            return masks.reshape(masks.shape[0], *size)
        return F.interpolate(masks[:, None], size=tuple(size), mode='area')[
            :, 0
        ]

    def loss_size(self, pad_shape: Tuple[int, int]) -> Tuple[int, int]:
        """(h, w) at which the mask losses are computed."""
        s = self.mask_loss_stride
        return (math.ceil(pad_shape[0] / s), math.ceil(pad_shape[1] / s))

    def loss_instance_masks(
        self,
        mask_preds: Tensor,
        targets: List[dict],
        batch_gt_instances: List[InstanceData],
        size: Tuple[int, int],
    ) -> Dict[str, Tensor]:
        """Instance mask losses, with the last layer's assignment.

        Matched queries: ``loss_mask`` (BCE, mean over their pixels) and
        ``loss_dice`` (mean over them) against the mask of the ground-truth
        object their box is matched to. Unmatched queries:
        ``loss_neg_mask`` / ``loss_neg_dice``, the same against an empty
        mask, averaged over the N_neg unmatched queries and multiplied by
        ``neg_weight``.

        Every query's loss is computed on the whole (B, Q, H, W) tensor and
        selected by per-query weights, so the backward pass needs no
        scatter per image.

        Args:
            mask_preds (Tensor): (B, Q, h, w) logits.
            targets (list[dict]): The last layer's :meth:`get_targets`.
                With context instances the matched queries include the
                objects that are not targets: they learn their object's
                mask too (see :class:`IGVGHead`).
            batch_gt_instances (list[InstanceData]): With ``masks``
                (N, H_pad, W_pad).
            size (tuple[int, int]): (h, w) of the comparison
                (:meth:`loss_size`); logits are resized bilinearly and
                targets with :meth:`resize_targets`.
        """
        bsz, num_queries = mask_preds.shape[:2]
        logits = mask_preds
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(
                logits, size=tuple(size), mode='bilinear', align_corners=False
            )
        logits = logits.flatten(2)
        mask_targets = logits.new_zeros(logits.shape)
        pos = logits.new_zeros((bsz, num_queries))
        for i, t in enumerate(targets):
            if len(t['pos_inds']):
                gt_masks = batch_gt_instances[i].masks[t['pos_gt_inds']]
                gt_masks = self.resize_targets(gt_masks, size)
                mask_targets[i, t['pos_inds']] = gt_masks.flatten(1).to(logits)
                pos[i, t['pos_inds']] = 1.0
        logits = logits.flatten(0, 1)  # (B * Q, H * W)
        mask_targets = mask_targets.flatten(0, 1)
        pos = pos.flatten()
        num_pixels = logits.shape[1]
        losses = dict()
        groups = [('', pos, 1.0)]
        if self.neg_weight > 0:
            groups.append(('neg_', 1.0 - pos, self.neg_weight))
        for prefix, weight, scale in groups:
            num = max(reduce_mean(weight.sum()).item(), 1.0)
            if not weight.any():
                zero = logits.sum() * 0.0
                losses[f'loss_{prefix}mask'] = zero
                losses[f'loss_{prefix}dice'] = zero
                continue
            losses[f'loss_{prefix}mask'] = scale * self.loss_mask(
                logits,
                mask_targets,
                weight=weight[:, None].expand_as(logits),
                avg_factor=num * num_pixels,
            )
            losses[f'loss_{prefix}dice'] = scale * self.loss_dice(
                logits, mask_targets, weight=weight, avg_factor=num
            )
        return losses

    @staticmethod
    def merged_targets(
        batch_data_samples: SampleList, pad_shape: Tuple[int, int]
    ) -> Tensor:
        """Merged ground-truth masks, float (B, H_pad, W_pad); empty for
        no-target samples; 255 (ignore) counts as background."""
        out = []
        for s in batch_data_samples:
            if 'gt_sem_seg' in s:
                seg = s.gt_sem_seg.data.reshape(s.gt_sem_seg.data.shape[-2:])
                seg = ((seg > 0) & (seg != 255)).float()
            else:
                masks = IGVGLossMixin.gt_instances_of(s, pad_shape).masks
                seg = masks.any(0).float() if len(masks) else None
                if seg is None:
                    seg = torch.zeros(pad_shape)
            if s.metainfo.get('no_target', False):
                seg = torch.zeros_like(seg)
            h, w = seg.shape
            seg = F.pad(
                seg[: pad_shape[0], : pad_shape[1]],
                (0, max(0, pad_shape[1] - w), 0, max(0, pad_shape[0] - h)),
            )
            out.append(seg)
        return torch.stack(out)

    def loss(
        self,
        feats: Sequence[Tensor],
        img_feats: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """All losses of a batch (see the class docstring).

        Args:
            feats, img_feats, text_feats, text_padding_mask: See
                :meth:`forward`.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                (``bboxes``, ``masks`` padded to ``batch_input_shape``),
                ``gt_sem_seg`` and ``metainfo.no_target``; with
                ``context_instances``, ``gt_context_instances`` too.

        Returns:
            dict[str, Tensor]: The losses; ``d{i}.`` prefixes the DETR
            losses (and ``loss_context_cls``) of the decoder layers before
            the last.
        """
        metas = [s.metainfo for s in batch_data_samples]
        pad_shape = tuple(metas[0]['batch_input_shape'][:2])
        gts = [
            self.gt_instances_of(s, pad_shape, self.context_instances)
            for s in batch_data_samples
        ]
        if self.context_cls_embed is not None:
            self._check_categories(gts)
        outs = self(feats, img_feats, text_feats, text_padding_mask, metas)

        losses = dict()
        num_layers = outs['cls_scores'].shape[0]
        targets = None
        for lvl in range(num_layers):
            targets = self.get_targets(
                outs['cls_scores'][lvl],
                outs['bbox_preds'][lvl],
                outs['points'],
                gts,
                metas,
            )
            layer = self.loss_detr_layer(
                outs['cls_scores'][lvl],
                outs['bbox_preds'][lvl],
                targets,
                metas,
            )
            if self.context_cls_embed is not None:
                layer['loss_context_cls'] = self.loss_context_cls_layer(
                    outs['queries'][lvl], targets, gts
                )
            prefix = '' if lvl == num_layers - 1 else f'd{lvl}.'
            losses.update({prefix + k: v for k, v in layer.items()})
        # query-instance matching: the last layer's assignment
        size = self.loss_size(pad_shape)
        losses.update(
            self.loss_instance_masks(outs['mask_preds'], targets, gts, size)
        )
        global_logits = outs['global_mask']
        if tuple(global_logits.shape[-2:]) != size:
            global_logits = F.interpolate(
                global_logits, size=size, mode='bilinear', align_corners=False
            )
        global_logits = global_logits.flatten(1)
        merged = self.merged_targets(batch_data_samples, pad_shape)
        merged = self.resize_targets(merged, size)
        merged = merged.to(global_logits).flatten(1)
        losses['loss_global_mask'] = self.loss_global_mask(
            global_logits.reshape(-1),
            merged.reshape(-1),
            avg_factor=merged.numel(),
        )
        losses['loss_global_dice'] = self.loss_global_dice(
            global_logits, merged, avg_factor=merged.shape[0]
        )
        losses.update(
            self.nt_branch.loss_by_samples(
                outs['nt_logits'], batch_data_samples
            )
        )
        losses.update(self.aqg.loss(outs['score_map'], batch_data_samples))
        return losses
