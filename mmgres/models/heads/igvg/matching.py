# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's point-guided Hungarian matching (Sec. 3.1.2, Eq. 4) and the DETR
targets it gives."""

from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData
from torch import Tensor

# IGVG Eq. 4: class 1, L1 box 5, GIoU 2, point 2 (InstanceVG's matcher)
DEFAULT_ASSIGNER = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='ClassificationCost', weight=1.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0),
        dict(type='PointL1Cost', weight=2.0),
    ],
)


def with_ref_points(
    batch_img_metas: Sequence[dict], points: Tensor
) -> List[dict]:
    """Copies of the metas with each image's (Q, 2) reference points P_r
    (detached) as ``ref_points``: :class:`PointL1Cost` reads them there,
    mmdet's ``_get_targets_single`` having no other input for them."""
    return [
        dict(meta, ref_points=points[i].detach())
        for i, meta in enumerate(batch_img_metas)
    ]


def point_guided_assign(
    assigner,
    cls_score: Tensor,
    bbox_pred: Tensor,
    gt_instances: InstanceData,
    img_meta: dict,
) -> Tuple[Tensor, Tensor]:
    """The Hungarian assignment of one image's queries.

    Args:
        assigner: mmdet's ``HungarianAssigner`` (Eq. 4's costs).
        cls_score (Tensor): (Q, K) logits.
        bbox_pred (Tensor): (Q, 4) normalised cxcywh.
        gt_instances (InstanceData): ``labels`` and ``bboxes`` (xyxy).
        img_meta (dict): ``img_shape`` and ``ref_points`` (Q, 2), the
            queries' normalised reference points, which
            :class:`PointL1Cost` compares with the box centres.

    Returns:
        tuple[Tensor, Tensor]: ``pos_inds`` (P,), the matched queries, and
        ``pos_gt_inds`` (P,), their ground-truth indices.
    """
    img_h, img_w = img_meta['img_shape'][:2]
    factor = bbox_pred.new_tensor([img_w, img_h, img_w, img_h])
    pred_instances = InstanceData(
        scores=cls_score,
        bboxes=bbox_cxcywh_to_xyxy(bbox_pred) * factor,
        points=img_meta['ref_points'],
    )
    gt = InstanceData(labels=gt_instances.labels, bboxes=gt_instances.bboxes)
    result = assigner.assign(
        pred_instances=pred_instances, gt_instances=gt, img_meta=img_meta
    )
    pos_inds = torch.nonzero(result.gt_inds > 0).squeeze(-1).unique()
    return pos_inds, result.gt_inds[pos_inds] - 1


def detr_targets(
    bbox_pred: Tensor,
    gt_instances: InstanceData,
    img_meta: dict,
    pos_inds: Tensor,
    pos_gt_inds: Tensor,
    background: int,
) -> tuple:
    """DETR's targets of one image in mmdet's ``_get_targets_single``
    layout, from an assignment (:func:`point_guided_assign`).

    Args:
        bbox_pred (Tensor): (Q, 4) normalised cxcywh (for Q, device and
            dtype).
        gt_instances (InstanceData): ``labels`` and ``bboxes`` (xyxy, in
            the ``img_meta['img_shape']`` frame).
        img_meta (dict): ``img_shape``.
        pos_inds (Tensor): (P,) matched queries.
        pos_gt_inds (Tensor): (P,) their ground-truth indices.
        background (int): The label of the unmatched queries.

    Returns:
        tuple: ``labels`` (Q,), ``label_weights`` (Q,) ones,
        ``bbox_targets`` (Q, 4) normalised cxcywh, ``bbox_weights`` (Q, 4)
        ones at the matched queries, ``pos_inds``, ``neg_inds``.
    """
    img_h, img_w = img_meta['img_shape'][:2]
    factor = bbox_pred.new_tensor([img_w, img_h, img_w, img_h])
    num_queries = bbox_pred.size(0)
    matched = torch.zeros(num_queries, dtype=torch.bool)
    matched[pos_inds.cpu()] = True
    neg_inds = torch.nonzero(~matched).squeeze(-1).to(pos_inds.device)
    labels = pos_inds.new_full((num_queries,), background)
    labels[pos_inds] = gt_instances.labels[pos_gt_inds]
    bbox_targets = bbox_pred.new_zeros(num_queries, 4)
    bbox_weights = bbox_pred.new_zeros(num_queries, 4)
    bbox_weights[pos_inds] = 1.0
    bbox_targets[pos_inds] = bbox_xyxy_to_cxcywh(
        gt_instances.bboxes[pos_gt_inds].to(bbox_pred) / factor
    )
    weights = bbox_pred.new_ones(num_queries)
    return labels, weights, bbox_targets, bbox_weights, pos_inds, neg_inds


@torch.no_grad()
def assign_layer(
    assign: Callable,
    outs: Dict[str, Tensor],
    layer: int,
    batch_gt_instances: Sequence[InstanceData],
    metas: Sequence[dict],
) -> List[Tuple[Tensor, Tensor]]:
    """The assignments ``(pos_inds, pos_gt_inds)`` of every image for
    decoder layer ``layer``.

    Args:
        assign (Callable): ``assign(cls_score, bbox_pred, gt_instances,
            img_meta)``, e.g. ``IGVGHead.assign``.
        outs (dict[str, Tensor]): The head's forward: ``cls_scores`` (D,
            B, Q, K) and ``bbox_preds`` (D, B, Q, 4), read detached.
        layer (int): The decoder layer, an index into D.
        batch_gt_instances (Sequence[InstanceData]): Per image.
        metas (Sequence[dict]): Per image, from :func:`with_ref_points`.
    """
    cls_scores = outs['cls_scores'][layer].detach()
    bbox_preds = outs['bbox_preds'][layer].detach()
    return [
        assign(cls_scores[i], bbox_preds[i], gt, meta)
        for i, (gt, meta) in enumerate(zip(batch_gt_instances, metas))
    ]
