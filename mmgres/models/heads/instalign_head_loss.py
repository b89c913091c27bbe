# Copyright (c) mmgres contributors. All rights reserved.
"""Training targets and losses of :class:`InstAlignHead`.

:class:`InstAlignLossMixin` holds the loss side of InstAlign's head
(matching, the instance loss of every decoder layer, the IA merged-mask
loss and the no-target loss); :class:`~mmgres.models.heads.InstAlignHead`
mixes it in, so that ``instalign_head.py`` keeps the network and the
prediction.
"""

from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.utils import reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.utils.referring_targets import (
    is_no_target,
    merged_targets,
    referring_targets,
)
from mmgres.utils import SampleList


class InstAlignLossMixin:
    """Training targets and losses of :class:`InstAlignHead`.

    A plain mixin (not registered, no ``__init__``), mixed into
    :class:`InstAlignHead` before ``Mask2FormerHead``. It relies on these
    attributes of the head: ``assigner``, ``num_points``,
    ``oversample_ratio``, ``importance_sample_ratio`` (from ``train_cfg``),
    the loss modules ``loss_cls``, ``loss_mask``, ``loss_dice``,
    ``loss_poa`` (or None), ``loss_merged``, ``loss_nt``, the weights
    ``no_object_weight`` and ``merged_class_weight``, and on the head's
    ``forward``, ``aggregate`` and ``no_target_logit``.

    The instance loss (paper Sec. 3.1 and supp. 11.4, Eq. 12) of one
    decoder layer, with ``K`` the matched queries of the batch:

    - relevance: ``Σ_matched BCE(r_i, 1) + w_no · Σ_unmatched BCE(r_i, 0)``
      over ``max(K, 1)``, times ``loss_cls``'s weight (λ_rel). The paper
      gives the two sums; the weight ``w_no = no_object_weight`` (0.1, as
      Mask2Former weighs its no-object class) and the normalisation by the
      matched count (averaged over the ranks, as Mask2Former's mask
      losses) are ours: without them one matched query among 100 gets
      about a hundredth of the push;
    - mask BCE and dice on ``num_points`` uncertainty-sampled points of the
      matched queries (Mask2Former), over ``max(K, 1)``;
    - POA ``1 - cos(q_i, p_i)`` (Eq. 4) over the matched targets.

    Every rank runs the same collectives (the ``reduce_mean`` of the two
    counts) whatever samples it drew: a rank that skipped one would pair
    its next collective with the other ranks' (gloo: "Received data size
    doesn't match expected size").
    """

    # ------------------------------------------------------------------ #
    # ground truth and matching
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

    # ------------------------------------------------------------------ #
    # losses
    # ------------------------------------------------------------------ #
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
        rel_weights = torch.stack(rel_weights).reshape(-1)
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
                weight=rel_weights,
                avg_factor=num_total,
            )
        )
        batch_idx = torch.cat(
            [torch.full_like(p, i) for i, p in enumerate(pos_list)]
        )
        pos_idx = torch.cat(pos_list)
        losses.update(
            self._loss_matched(queries, batch_idx, pos_idx, matched, num_total)
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
        self,
        queries: Tensor,
        batch_idx: Tensor,
        pos_idx: Tensor,
        matched: InstanceData,
        num_total: float,
    ) -> Dict[str, Tensor]:
        """Further losses of one decoder layer on the matched queries
        ``queries[batch_idx, pos_idx]`` (K, C) and their ground truths
        ``matched`` (K entries), normalised by ``num_total``. None in
        InstAlign; a hook for subclasses."""
        return dict()

    def loss_merged_mask(
        self, logits: Tensor, gt: Tensor
    ) -> Dict[str, Tensor]:
        """L_mask of IA's merged mask (paper Eq. 6, "adopted from ReLA").

        ReLA's criterion (``gres_model/modeling/criterion.py``) upsamples
        the merged logits bilinearly to the input resolution and takes a
        2-class cross-entropy with class weights [0.9, 1.1]; with one
        logit this is the BCE of every pixel weighted 1.1 on the target
        and 0.9 elsewhere (``merged_class_weight``), over the sum of the
        weights, as ``F.cross_entropy(weight=...)`` averages.

        Args:
            logits (Tensor): Merged logits at the input resolution
                (B, H, W), see :meth:`loss`.
            gt (Tensor): Merged ground truth (B, H, W), bool.

        Returns:
            dict[str, Tensor]: ``loss_merged``.
        """
        background, target = self.merged_class_weight
        weight = torch.where(
            gt, logits.new_tensor(target), logits.new_tensor(background)
        ).reshape(-1)
        return dict(
            loss_merged=self.loss_merged(
                logits.reshape(-1),
                gt.reshape(-1).float(),
                weight=weight,
                avg_factor=weight.sum(),
            )
        )

    def loss_no_target(self, nt_logit: Tensor, nt_gt: Tensor) -> Tensor:
        """L_nt: the BCE of the no-target logits (B,) against ``nt_gt``
        (B,) bool, averaged over the batch (paper Sec. 3.4)."""
        return self.loss_nt(nt_logit, nt_gt.float())

    def loss(
        self,
        x: List[Tensor],
        text: Dict[str, Tensor],
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """Losses of a batch: ``λ_inst L_inst + λ_mask L_mask + λ_nt L_nt``
        (paper Eq. 8), the λ being the losses' ``loss_weight``.

        Args:
            x (list[Tensor]): Multi-scale backbone features.
            text (dict): Text encoder outputs.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``,
                ``gt_sem_seg`` (optional) and ``metainfo``
                (``batch_input_shape``, ``no_target``).

        Returns:
            dict[str, Tensor]: ``loss_rel``, ``loss_mask``, ``loss_dice``,
            ``loss_poa`` of the last decoder layer and ``d{i}.*`` of the
            others (deep supervision); ``loss_merged`` and ``loss_nt``.
        """
        metas = [s.metainfo for s in batch_data_samples]
        pad_shape = metas[0]['batch_input_shape']
        gts = [self._ground_truth(s, pad_shape) for s in batch_data_samples]
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

        rel = outs['rel'][-1]
        merged = self.aggregate(rel, outs['masks'][-1])
        # at the input resolution (the padded batch), as ReLA
        merged = F.interpolate(
            merged[:, None],
            size=tuple(pad_shape),
            mode='bilinear',
            align_corners=False,
        )[:, 0]
        gt_merged = merged_targets(batch_data_samples, pad_shape, rel.device)
        losses.update(self.loss_merged_mask(merged, gt_merged))

        nt_logit = self.no_target_logit(
            rel, outs['queries'][-1], text['sentence_feat']
        )
        nt_gt = torch.tensor(
            [is_no_target(s) for s in batch_data_samples], device=rel.device
        )
        losses['loss_nt'] = self.loss_no_target(nt_logit, nt_gt)
        return losses
