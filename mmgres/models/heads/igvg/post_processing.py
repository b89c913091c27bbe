# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's post-processing: kept instances, merged mask and no-target."""

from typing import Dict, List, Sequence

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
    points_to_frame,
)


def check_test_cfg(test_cfg: dict) -> dict:
    """Return ``test_cfg`` after checking ``nt_rule`` and ``nt_score``."""
    if test_cfg.get('nt_rule', 'score') not in ('score', 'classifier'):
        raise ValueError(
            "test_cfg.nt_rule must be 'score' or 'classifier', got "
            f'{test_cfg["nt_rule"]!r}.'
        )
    if test_cfg.get('nt_score', 'softmax') not in ('softmax', 'sigmoid'):
        raise ValueError(
            "test_cfg.nt_score must be 'softmax' or 'sigmoid', got "
            f'{test_cfg["nt_score"]!r}.'
        )
    return test_cfg


def target_probs(cls_scores: Tensor, use_sigmoid: bool) -> Tensor:
    """p_target from (..., K) class logits: the sigmoid of the one logit,
    or the softmax probability of class 0 (class 1 is DETR's
    background)."""
    if use_sigmoid:
        return cls_scores[..., 0].sigmoid()
    return cls_scores.softmax(-1)[..., 0]


def no_target_probs(nt_logits: Tensor, nt_score: str = 'softmax') -> Tensor:
    """p_NT (B,) from the no-target logits (B, 2): ``'softmax'`` (index 1
    of the softmax) or ``'sigmoid'`` (InstanceVG's released code:
    ``1 − sigmoid(l_0)``, l_0 the "has a target" logit)."""
    if nt_score == 'sigmoid':
        return 1.0 - nt_logits[:, 0].sigmoid()
    return nt_logits.softmax(-1)[:, 1]


def post_process(
    outs: Dict[str, Tensor],
    target_prob: Tensor,
    batch_img_metas: Sequence[dict],
    test_cfg: dict,
    rescale: bool = True,
    rescale_boxes: bool = True,
) -> List[dict]:
    """IGVG's prediction rule (Appendix D; InstanceVG's thresholds).

    ``score = p_target × (1 − p_NT)``; queries with ``score > score_thr``
    (0.7) are kept, by descending score, at most ``max_per_image``; their
    masks are thresholded at ``mask_thr`` (0.5); the merged mask is the
    global mask OR the kept instance masks. "No target" is decided by
    ``nt_rule``: ``'score'`` (InstanceVG: no query kept) or
    ``'classifier'`` (``p_NT > nt_thr``, 0.5).

    Args:
        outs (dict): The head's forward: ``bbox_preds`` (the last layer's
            are used), ``points``, ``mask_preds``, ``global_mask``,
            ``nt_logits``.
        target_prob (Tensor): (B, Q) p_target of the last layer.
        batch_img_metas (list[dict]): ``img_shape``,
            ``batch_input_shape``, ``ori_shape``, ``scale_factor``.
        test_cfg (dict): ``score_thr``, ``mask_thr``, ``nt_rule``,
            ``nt_thr``, ``max_per_image``, ``nt_score`` (see
            :func:`no_target_probs`) and ``mask_align_corners`` (False;
            InstanceVG's code upsamples with True).
        rescale (bool): Masks in the original image frame (else in the
            ``img_shape`` frame).
        rescale_boxes (bool): Boxes and points in the original frame.

    Returns:
        list[dict]: Per sample:

        - ``pred_instances``: InstanceData of the kept queries, by
          descending score: ``bboxes`` (N, 4) xyxy, ``scores`` (N,),
          ``masks`` (N, H, W) bool, ``labels`` (N,) zeros, ``points``
          (N, 2) their reference points (x, y) and ``query_inds`` (N,);
        - ``merged``: (H, W) bool, global mask OR kept masks;
        - ``no_target`` (bool) and ``nt_score`` (float, p_NT);
        - ``points``: (Q, 2) every selected reference point, (x, y) in the
          same frame (for CoverAcc and visualisation).
    """
    score_thr = test_cfg.get('score_thr', 0.7)
    mask_thr = test_cfg.get('mask_thr', 0.5)
    nt_rule = test_cfg.get('nt_rule', 'score')
    nt_thr = test_cfg.get('nt_thr', 0.5)
    max_per_image = test_cfg.get('max_per_image', target_prob.shape[1])
    align = bool(test_cfg.get('mask_align_corners', False))
    nt_prob = no_target_probs(
        outs['nt_logits'], test_cfg.get('nt_score', 'softmax')
    )
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
                merged=binary[-1] | inst_masks.any(0),
                no_target=no_target,
                nt_score=float(nt_prob[i]),
                points=points,
            )
        )
    return results
