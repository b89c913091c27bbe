# Copyright (c) mmgres contributors. All rights reserved.
"""InstAlign's head: instance aggregation, the no-target predictor, their
losses and the prediction, on the phrase-conditioned instances of
:class:`InstAlignInstanceHead`."""

from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers.transformer import MLP
from mmdet.structures.mask import mask2bbox
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
)
from mmgres.models.utils.referring_targets import is_no_target, merged_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, SampleList

from .instalign_instance_head import InstAlignInstanceHead


@MODELS.register_module()
class InstAlignHead(InstAlignInstanceHead):
    """InstAlign head (instance-aware GRES with Phrase-Object Alignment).

    :class:`InstAlignInstanceHead` gives the text-conditioned Mask2Former
    queries, their relevance logits ``r_i``, masks ``m_i`` and phrases, and
    the instance supervision L_inst. On the last decoder layer this head
    adds (paper Sec. 3.3):

    * instance aggregation (IA, Eq. 5): the merged logit
      ``M = Σ_i σ(r_i) · PReLU(m_i)``, on the instance logits upsampled to
      the input (:meth:`merged_logits`);
    * the no-target predictor (Eq. 7): ``g = Σ σ(r_i) q_i / Σ σ(r_i)``,
      ``NT = MLP([g; s])`` with the sentence embedding ``s``.

    Total loss (Eq. 8): ``λ_inst L_inst + λ_mask L_mask + λ_nt L_nt``; the
    λ are the ``loss_weight`` of the loss configs (relevance, mask, dice
    and POA make up L_inst at every decoder layer; ``loss_merged`` is
    L_mask and ``loss_nt`` is L_nt, on the last layer).

    Args:
        loss_merged (dict): L_mask, "adopted from ReLA" (Sec. 3.4): ReLA's
            criterion takes a cross-entropy with class weights [0.9, 1.1]
            (background, target) on the merged logits upsampled to the
            input resolution, i.e. :class:`ClassWeightedBCELoss`.
        loss_nt (dict): L_nt, the BCE of the no-target logits averaged
            over the batch (Sec. 3.4).
        aggregation (str): ``'relevance'`` (IA, the paper) or ``'best'``
            (ablation, Table 3(b): the single most relevant instance's
            mask; IA's PReLU is then frozen).
        nt_pooling (str): ``'relevance'`` (the paper) or ``'mean'``
            (ablation, Table 3(c): plain query averaging).
        test_cfg (dict, optional): ``score_thr`` (relevance threshold for
            output instances, default 0.5), ``mask_thr`` (0.5), ``nt_thr``
            (0.5), ``max_per_image`` (defaults to num_queries).
        **kwargs: :class:`InstAlignInstanceHead`'s arguments.
    """

    def __init__(
        self,
        *args,
        loss_merged: ConfigType = dict(
            type='ClassWeightedBCELoss', class_weight=(0.9, 1.1)
        ),
        loss_nt: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        aggregation: str = 'relevance',
        nt_pooling: str = 'relevance',
        test_cfg: OptConfigType = None,
        **kwargs,
    ) -> None:
        if aggregation not in ('relevance', 'best'):
            raise ValueError(f'Unknown aggregation {aggregation!r}')
        if nt_pooling not in ('relevance', 'mean'):
            raise ValueError(f'Unknown nt_pooling {nt_pooling!r}')
        super().__init__(*args, test_cfg=test_cfg, **kwargs)
        feat_channels = self.query_feat.embedding_dim
        self.ia_act = nn.PReLU(init=0.25)
        self.nt_embed = MLP(
            feat_channels + self.text_channels, feat_channels, 1, 2
        )
        self.loss_merged = MODELS.build(loss_merged)
        self.loss_nt = MODELS.build(loss_nt)
        self.aggregation = aggregation
        self.nt_pooling = nt_pooling
        self.test_cfg = ConfigDict(test_cfg or {})
        if aggregation == 'best':
            # the merged mask is the best query's, without IA's PReLU; frozen,
            # as a trainable parameter without a gradient makes DDP fail,
            # and kept for the checkpoints' keys
            self.ia_act.requires_grad_(False)

    # ------------------------------------------------------------------ #
    # instance aggregation and no-target
    # ------------------------------------------------------------------ #
    def aggregate(self, rel: Tensor, masks: Tensor) -> Tensor:
        """Instance aggregation on logits (paper Eq. 5).

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

    def merged_logits(self, rel: Tensor, masks: Tensor, size) -> Tensor:
        """IA's merged logits at the input resolution ``size``: the
        instance logits are upsampled (bilinear) first, then aggregated
        (:meth:`aggregate`).

        The order matters because PReLU does not commute with the
        upsampling. Aggregated at the masks' 1/4 resolution and upsampled
        after, every instance's negative side is shrunk by the PReLU slope
        before the interpolation, so the zero crossing moves outwards: the
        merged mask of one relevant instance grows beyond that instance's
        own mask, by up to (1 - √a) / (1 + √a) of a 1/4-resolution cell
        for the PReLU slope a (a third at a = 0.25; a whole cell as a
        falls to 0): between logits p > 0 and -n, the zero crossing moves
        from p / (p + n) to p / (p + a n) of the way.
        Upsampled first, PReLU keeps each logit's sign, so one relevant
        instance's merged mask is its own mask. The instance masks of
        Mask2Former, on which InstAlign builds, are upsampled to the input
        before inference does anything with them. The cost is memory:
        training keeps the (B, Q, H, W) upsampled logits and their PReLU
        for the backward pass, 0.7 GB each in float32 at 8 images x 100
        queries x 480^2 (recomputing them in the backward pass instead
        does not lower the peak, which falls at the end of the forward).

        Args:
            rel (Tensor): Relevance logits, shape (B, Q).
            masks (Tensor): Instance mask logits, shape (B, Q, h, w).
            size (Sequence[int]): (H, W) of the padded input.

        Returns:
            Tensor: Shape (B, H, W).
        """
        up = F.interpolate(
            masks,
            size=tuple(int(v) for v in size[:2]),
            mode='bilinear',
            align_corners=False,
        )
        return self.aggregate(rel, up)

    def no_target_logit(
        self, rel: Tensor, queries: Tensor, sentence: Tensor
    ) -> Tensor:
        """No-target logit ``MLP([g; s])`` (paper Eq. 7), shape (B,).

        ``g`` pools the queries (B, Q, C) by relevance σ(r) (B, Q), or by a
        plain mean (``nt_pooling='mean'``); ``s`` is the sentence (B, C_t).
        """
        if self.nt_pooling == 'mean':
            pooled = queries.mean(dim=1)
        else:
            w = rel.sigmoid().unsqueeze(-1)
            pooled = (w * queries).sum(1) / w.sum(1).clamp(min=1e-6)
        return self.nt_embed(torch.cat([pooled, sentence], dim=-1)).squeeze(-1)

    # ------------------------------------------------------------------ #
    # losses
    # ------------------------------------------------------------------ #
    def loss_merged_mask(
        self, logits: Tensor, gt: Tensor
    ) -> Dict[str, Tensor]:
        """L_mask (paper Eq. 6): ``loss_merged`` of IA's merged logits at
        the input resolution (B, H, W) against the merged ground truth
        (B, H, W) bool. A hook for subclasses that add terms.

        Returns:
            dict[str, Tensor]: ``loss_merged``.
        """
        return dict(loss_merged=self.loss_merged(logits, gt))

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
            others (deep supervision, :meth:`loss_by_feat`);
            ``loss_merged`` and ``loss_nt``.
        """
        outs = self(x, text)
        losses = self.loss_by_feat(outs, batch_data_samples)
        pad_shape = batch_data_samples[0].metainfo['batch_input_shape']
        rel = outs['rel'][-1]
        # at the input resolution (the padded batch), as ReLA
        merged = self.merged_logits(rel, outs['masks'][-1], pad_shape)
        gt_merged = merged_targets(batch_data_samples, pad_shape, rel.device)
        losses.update(self.loss_merged_mask(merged, gt_merged))

        nt_logit = self.no_target_logit(
            rel, outs['queries'][-1], text['sentence_feat']
        )
        nt_gt = [is_no_target(s) for s in batch_data_samples]
        losses['loss_nt'] = self.loss_nt(
            nt_logit, torch.tensor(nt_gt, device=rel.device).float()
        )
        return losses

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def merged_output(self, inst_masks: Tensor, ia_mask: Tensor) -> Tensor:
        """The output merged mask of one sample from its kept instances'
        masks (N, H, W) and IA's mask (H, W), both binary in the output
        frame: IA's (the paper). A hook for subclasses."""
        return ia_mask

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
            ``scores`` (N,) relevance, ``labels``), ``merged`` (H, W) bool
            (:meth:`merged_output`), ``no_target`` (bool) and ``nt_score``
            (float). H, W is the original image size when ``rescale`` is
            True, else ``img_shape``.
        """
        if rescale_boxes is None:
            rescale_boxes = rescale
        metas = [s.metainfo for s in batch_data_samples]
        outs = self(x, text)
        rel, masks = outs['rel'][-1], outs['masks'][-1]
        nt_prob = self.no_target_logit(
            rel, outs['queries'][-1], text['sentence_feat']
        ).sigmoid()
        score_thr = self.test_cfg.get('score_thr', 0.5)
        mask_thr = self.test_cfg.get('mask_thr', 0.5)
        nt_thr = self.test_cfg.get('nt_thr', 0.5)
        max_per_image = self.test_cfg.get('max_per_image', self.num_queries)
        pad_shape = metas[0]['batch_input_shape']
        results = []
        for i, meta in enumerate(metas):
            scores = rel[i].sigmoid()
            keep = torch.nonzero(scores > score_thr).squeeze(1)
            keep = keep[scores[keep].argsort(descending=True)][:max_per_image]
            inst_masks = mask_logits_to_frame(
                masks[i, keep], meta, pad_shape, rescale, mask_thr
            )
            # one sample at a time: (Q, H, W) at the input resolution
            merged = self.merged_logits(
                rel[i : i + 1], masks[i : i + 1], pad_shape
            )
            ia_mask = mask_logits_to_frame(
                merged, meta, pad_shape, rescale, mask_thr
            )[0]
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
                    merged=self.merged_output(inst_masks, ia_mask),
                    no_target=bool(nt_prob[i] > nt_thr),
                    nt_score=float(nt_prob[i]),
                )
            )
        return results
