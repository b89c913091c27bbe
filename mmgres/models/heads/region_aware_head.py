# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's region-aware prediction head (Eq. 10-15)."""

import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers.transformer import MLP
from mmdet.structures.bbox import (
    bbox_cxcywh_to_xyxy,
    bbox_xyxy_to_cxcywh,
    get_box_tensor,
)
from mmdet.structures.mask import mask2bbox
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmgres.models.losses import region_presence_targets
from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    frame_shape,
    mask_logits_to_frame,
)
from mmgres.models.utils.referring_targets import merged_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

MODES = ('rec', 'res', 'rec_res', 'gres')


@MODELS.register_module()
class RegionAwareHead(BaseModule):
    """Region-aware prediction: presence per region, a box and a mask.

    Inputs are the fused multi-scale features ``F^i_scale`` (Eq. 9,
    :class:`HierarchicalLayerFusion`) and the last anchors ``P_K``
    (:class:`AnchoredVisionBackbone`). Following Eq. 10:

    1. the features of stages ``start_level + 1 .. K`` (stage 1 is left
       out: too low-level) are resized to one size, divisible by the region
       grid, and split into the N regions; ``P_K`` is split into its N
       anchors (row-major, as the regions);
    2. within region n, ``R_n = Concat_i[P_n ⊙ X_n^i]`` (channels);
    3. a separate MLP per region predicts its presence logit ``δ_n`` from
       ``R_n``; no target when every ``σ(δ_n)`` is below ``presence_thr``;
    4. the regions, put back together, form ``R``, from which MLP heads
       predict the box ``B`` (REC) and the mask ``M`` (RES/GRES).

    Ours, where the paper gives no detail:

    * per-stage 1×1 convolutions (and a linear map for the anchors) bring
      widths to ``region_channels`` when they differ (Swin); they are
      identities for ViT-B;
    * a shared per-pixel linear layer + ReLU reduces ``R`` to
      ``hidden_channels`` first, the first layer of every MLP below;
    * a region's MLP reads the average and the maximum of its pixels;
    * the box MLP reads the reduced ``R`` averaged over each region, all N
      concatenated, and predicts a normalised (cx, cy, w, h) in the padded
      input frame (sigmoid);
    * the mask MLP is per pixel and predicts ``mask_upsample²`` logits per
      feature pixel, rearranged by pixel shuffle into a map
      ``mask_upsample`` times finer (stride 4 for ViT-B/16 with 4).

    Losses (the λ of Eq. 14/15 are the ``loss_weight`` of each config):

    * ``loss_region``: :class:`RegionPresenceLoss` L_r, targets from the
      merged ground-truth mask (:func:`region_presence_targets`);
    * ``loss_mask``: :class:`BoundaryWeightedLoss` L_p^seg, at the padded
      input resolution ('res', 'rec_res', 'gres');
    * ``loss_bbox`` + ``loss_giou``: L_p^det = mmdet's ``SmoothL1Loss``
      (normalised cx, cy, w, h) + ``GIoULoss`` ('rec', 'rec_res'), 1 : 1 as
      Eq. 13 prints it; the target is the box of all ground-truth instances
      together (one instance on RefCOCO).

    The merged ground-truth mask is
    :func:`~mmgres.models.utils.referring_targets.merged_targets` in the
    padded input frame (empty for a no-target sample).

    Smooth-L1's β (ours: the paper does not give it) is 0.01 of the padded
    input (4.8 px at 480×480). The loss is ``0.5·x²/β`` for ``|x| < β`` and
    ``|x| - β/2`` beyond, its gradient ``min(|x|/β, 1)``. On boxes
    normalised to [0, 1], mmdet's default β = 1 is quadratic everywhere,
    i.e. 0.5·L2: at a 0.05 error (24 px, which takes a box a third of the
    image wide below IoU 0.75) its gradient is 0.05, a twentieth of L1's,
    and its value (0.00125) is negligible beside GIoU's. With β = 0.01
    every error above 5 px gets L1's full gradient, as DETR's L1 on the
    same normalised boxes (the value is L1 less 0.005); only sub-5-px errors
    (a third of a stride-16 feature pixel) are quadratic, which removes L1's
    kink at 0. mmdet's box heads put the quadratic zone at about a tenth of
    the box's own size (cascade-rcnn_r50_fpn.py: β = 1/9 on the RPN's raw
    deltas, β = 1 on the first stage's deltas divided by std 0.1); 0.01 is
    a tenth of a small referred object, one tenth of the image wide.

    Joint REC+RES (Eq. 14) is ``mode='rec_res'``: λ₁ = ``loss_region``,
    λ₂ = ``loss_bbox``/``loss_giou``, λ₃ = ``loss_mask``; GRES (Eq. 15) is
    ``mode='gres'``: λ₄ = ``loss_region``, λ₅ = ``loss_mask``.

    Args:
        in_channels (Sequence[int]): Widths of all K fused features.
        anchor_channels (int): Width of ``P_K``.
        mode (str): ``'rec'``, ``'res'``, ``'rec_res'`` or ``'gres'``.
        start_level (int): Index of the first stage used (1: stages 2..K).
        region_grid (tuple[int, int]): Region cells (rows, columns); must
            match the backbone's.
        region_channels (int, optional): Common width of ``X^i`` and ``P``.
            Defaults to ``anchor_channels``.
        hidden_channels (int): Width of the reduced ``R`` and the MLPs.
        presence_layers (int): Layers of each region's MLP.
        box_layers (int): Layers of the box MLP.
        mask_layers (int): Layers of the mask MLP.
        mask_upsample (int): Pixel-shuffle factor of the mask MLP.
        loss_region (dict): Config of L_r.
        loss_mask (dict): Config of L_p^seg.
        loss_bbox (dict): Config of the smooth-L1 part of L_p^det.
        loss_giou (dict): Config of the GIoU part of L_p^det.
        train_cfg (dict, optional): Unused; kept for the grounder.
        test_cfg (dict, optional): ``presence_thr`` (0.5), ``mask_thr``
            (0.5).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        anchor_channels: int,
        mode: str = 'gres',
        start_level: int = 1,
        region_grid: Sequence[int] = (4, 4),
        region_channels: Optional[int] = None,
        hidden_channels: int = 256,
        presence_layers: int = 2,
        box_layers: int = 3,
        mask_layers: int = 2,
        mask_upsample: int = 4,
        loss_region: ConfigType = dict(
            type='RegionPresenceLoss', loss_weight=1.0
        ),
        loss_mask: ConfigType = dict(
            type='BoundaryWeightedLoss', beta=1.2, loss_weight=1.0
        ),
        loss_bbox: ConfigType = dict(
            type='SmoothL1Loss', beta=0.01, loss_weight=1.0
        ),
        loss_giou: ConfigType = dict(type='GIoULoss', loss_weight=1.0),
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if not 0 <= start_level < len(in_channels):
            raise ValueError('start_level out of range')
        self.mode = mode
        self.with_box = mode in ('rec', 'rec_res')
        self.with_mask = mode in ('res', 'rec_res', 'gres')
        self.start_level = start_level
        self.region_grid = tuple(region_grid)
        self.num_regions = self.region_grid[0] * self.region_grid[1]
        c = region_channels or anchor_channels
        self.region_channels = c
        self.level_projs = nn.ModuleList(
            nn.Identity() if ch == c else nn.Conv2d(ch, c, 1)
            for ch in in_channels[start_level:]
        )
        self.anchor_proj = (
            nn.Identity()
            if anchor_channels == c
            else nn.Linear(anchor_channels, c)
        )
        num_levels = len(in_channels) - start_level
        self.reduce = nn.Sequential(
            nn.Conv2d(c * num_levels, hidden_channels, 1),
            nn.ReLU(inplace=True),
        )
        self.presence_mlps = nn.ModuleList(
            MLP(2 * hidden_channels, hidden_channels, 1, presence_layers)
            for _ in range(self.num_regions)
        )
        if self.with_box:
            self.box_mlp = MLP(
                hidden_channels * self.num_regions,
                hidden_channels,
                4,
                box_layers,
            )
            self.loss_bbox = MODELS.build(loss_bbox)
            self.loss_giou = MODELS.build(loss_giou)
        if self.with_mask:
            self.mask_upsample = mask_upsample
            self.mask_mlp = MLP(
                hidden_channels,
                hidden_channels,
                mask_upsample**2,
                mask_layers,
            )
            self.loss_mask = MODELS.build(loss_mask)
        self.loss_region = MODELS.build(loss_region)
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict(test_cfg or {})

    # ------------------------------------------------------------------ #
    # forward
    # ------------------------------------------------------------------ #
    def region_features(self, feats: Sequence[Tensor], anchors: Tensor):
        """Eq. 10: ``R`` with every region's ``R_n`` in its place.

        Args:
            feats (Sequence[Tensor]): All K fused features (B, C_i, H_i, W_i).
            anchors (Tensor): ``P_K``, shape (B, N, anchor_channels).

        Returns:
            Tensor: ``R``, shape (B, C · (K - start_level), H, W), with H, W
            the largest feature size used, rounded up to the grid; region n
            covers rows ``[r·H/gh, (r+1)·H/gh)`` and columns likewise, with
            ``r, c = divmod(n, gw)``.
        """
        gh, gw = self.region_grid
        levels = list(feats[self.start_level :])
        h = max(f.shape[-2] for f in levels)
        w = max(f.shape[-1] for f in levels)
        h, w = math.ceil(h / gh) * gh, math.ceil(w / gw) * gw
        xs = []
        for proj, f in zip(self.level_projs, levels):
            f = proj(f)
            if f.shape[-2:] != (h, w):
                f = F.interpolate(
                    f, size=(h, w), mode='bilinear', align_corners=False
                )
            xs.append(f)
        b = anchors.shape[0]
        p = self.anchor_proj(anchors).transpose(1, 2)
        p = p.reshape(b, self.region_channels, gh, gw)
        p = p.repeat_interleave(h // gh, dim=2).repeat_interleave(
            w // gw, dim=3
        )
        return torch.cat([p * x for x in xs], dim=1)

    def forward(
        self, feats: Sequence[Tensor], anchors: Tensor
    ) -> Dict[str, Tensor]:
        """Predict presence, and the box and/or the mask.

        Args:
            feats (Sequence[Tensor]): All K fused features ``F^i_scale``.
            anchors (Tensor): ``P_K``, shape (B, N, anchor_channels).

        Returns:
            dict: ``presence`` logits (B, N); ``masks`` logits
            (B, 1, s·H, s·W) with s = ``mask_upsample`` (mask modes);
            ``bboxes`` normalised (cx, cy, w, h) in [0, 1] of the padded
            input (box modes).
        """
        gh, gw = self.region_grid
        z = self.reduce(self.region_features(feats, anchors))
        b, c, h, w = z.shape
        cells = z.reshape(b, c, gh, h // gh, gw, w // gw)
        cells = cells.permute(0, 2, 4, 1, 3, 5).flatten(3)  # (B,gh,gw,C,hw)
        cells = cells.reshape(b, self.num_regions, c, -1)
        pooled = torch.cat([cells.mean(-1), cells.amax(-1)], dim=-1)
        presence = torch.cat(
            [mlp(pooled[:, n]) for n, mlp in enumerate(self.presence_mlps)],
            dim=1,
        )
        outs = dict(presence=presence)
        if self.with_box:
            outs['bboxes'] = self.box_mlp(cells.mean(-1).flatten(1)).sigmoid()
        if self.with_mask:
            logits = self.mask_mlp(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            outs['masks'] = F.pixel_shuffle(logits, self.mask_upsample)
        return outs

    # ------------------------------------------------------------------ #
    # targets
    # ------------------------------------------------------------------ #
    @staticmethod
    def gt_box(data_sample) -> Optional[Tensor]:
        """The box around all ground-truth instances (xyxy, input frame),
        or None when there is none (or the sample is no-target)."""
        gt = data_sample.get('gt_instances', None)
        if gt is None or 'bboxes' not in gt or len(gt) == 0:
            return None
        if data_sample.metainfo.get('no_target', False):
            return None
        boxes = get_box_tensor(gt.bboxes).float()
        return torch.cat([boxes[:, :2].amin(0), boxes[:, 2:].amax(0)])

    # ------------------------------------------------------------------ #
    # loss
    # ------------------------------------------------------------------ #
    def loss(
        self,
        feats: Sequence[Tensor],
        anchors: Tensor,
        batch_data_samples: SampleList,
    ) -> Dict[str, Tensor]:
        """Losses of a batch (Eq. 14 for 'rec_res', Eq. 15 for 'gres').

        Args:
            feats (Sequence[Tensor]): All K fused features ``F^i_scale``.
            anchors (Tensor): ``P_K``, shape (B, N, anchor_channels).
            batch_data_samples (list[DetDataSample]): With
                ``metainfo.batch_input_shape``, ``gt_sem_seg`` and/or
                ``gt_instances`` (masks, bboxes in the input frame).

        Returns:
            dict[str, Tensor]: ``loss_region``; ``loss_mask`` (mask modes);
            ``loss_bbox`` and ``loss_giou`` (box modes).
        """
        outs = self(feats, anchors)
        presence = outs['presence']
        device = presence.device
        pad_shape = tuple(batch_data_samples[0].metainfo['batch_input_shape'])
        gt_masks = merged_targets(batch_data_samples, pad_shape, device)
        losses = dict()
        targets = region_presence_targets(gt_masks, self.region_grid)
        losses['loss_region'] = self.loss_region(presence, targets)
        if self.with_mask:
            logits = F.interpolate(
                outs['masks'],
                size=pad_shape,
                mode='bilinear',
                align_corners=False,
            )
            losses['loss_mask'] = self.loss_mask(logits[:, 0], gt_masks)
        if self.with_box:
            losses.update(
                self._box_losses(outs['bboxes'], batch_data_samples, pad_shape)
            )
        return losses

    def _box_losses(self, pred, batch_data_samples, pad_shape):
        """Smooth-L1 on normalised (cx, cy, w, h) and GIoU on xyxy, over the
        samples that have a box."""
        ph, pw = pad_shape
        scale = pred.new_tensor([pw, ph, pw, ph])
        keep, targets = [], []
        for i, sample in enumerate(batch_data_samples):
            box = self.gt_box(sample)
            if box is not None:
                keep.append(i)
                targets.append(box.to(pred.device) / scale)
        if not keep:
            zero = pred.sum() * 0.0
            return dict(loss_bbox=zero, loss_giou=zero)
        pred = pred[keep]
        target_xyxy = torch.stack(targets).clamp(0, 1)
        return dict(
            loss_bbox=self.loss_bbox(
                pred, bbox_xyxy_to_cxcywh(target_xyxy), avg_factor=len(keep)
            ),
            loss_giou=self.loss_giou(
                bbox_cxcywh_to_xyxy(pred), target_xyxy, avg_factor=len(keep)
            ),
        )

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def predict(
        self,
        feats: Sequence[Tensor],
        anchors: Tensor,
        batch_data_samples: SampleList,
        rescale: bool = True,
        rescale_boxes: Optional[bool] = None,
    ) -> List[dict]:
        """Predict the mmgres data contract's fields.

        Args:
            feats (Sequence[Tensor]): The fused features.
            anchors (Tensor): The region anchors.
            batch_data_samples (list[DetDataSample]): The batch.
            rescale (bool): Masks in the original image frame
                (``ori_shape``), else in the ``img_shape`` frame.
            rescale_boxes (bool, optional): The boxes' frame; None: as
                ``rescale``.

        Returns:
            list[dict]: Per sample, for
            :meth:`BaseGrounder.add_pred_to_datasample`:

            - ``pred_instances`` (InstanceData): one instance (none when no
              target): ``bboxes`` (1, 4) xyxy (the box head's box in box
              modes, else the mask's box), ``scores`` (1,) = max_n σ(δ_n),
              ``labels`` 0, and ``masks`` (1, H, W) bool in mask modes;
            - ``merged`` (H, W) bool: the mask (mask modes) or the filled
              box ('rec'); empty when no target;
            - ``no_target`` (bool): every ``σ(δ_n) < presence_thr``
              ('gres' only; False in the other modes);
            - ``nt_score`` (float): ``1 - max_n σ(δ_n)``.

            H, W is the original image size when ``rescale`` is True, else
            the input image size.
        """
        if rescale_boxes is None:
            rescale_boxes = rescale
        outs = {k: v.detach() for k, v in self(feats, anchors).items()}
        probs = outs['presence'].sigmoid()
        max_prob = probs.max(dim=1).values
        presence_thr = self.test_cfg.get('presence_thr', 0.5)
        mask_thr = self.test_cfg.get('mask_thr', 0.5)
        results = []
        for i, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            pad_shape = tuple(meta['batch_input_shape'])
            out_h, out_w = frame_shape(meta, rescale)
            no_target = self.mode == 'gres' and bool(
                max_prob[i] < presence_thr
            )
            inst = InstanceData()
            if self.with_mask:
                merged = mask_logits_to_frame(
                    outs['masks'][i], meta, pad_shape, rescale, mask_thr
                )[0]
                if no_target:
                    merged.zero_()
                box = boxes_to_frame(
                    mask2bbox(merged[None])[0:1].float(),
                    meta,
                    rescale,
                    rescale_boxes,
                )[0]
            if self.with_box:
                box = self._box_to_image(
                    outs['bboxes'][i],
                    pad_shape,
                    meta,
                    rescale_boxes,
                    frame_shape(meta, rescale_boxes),
                )
            if not self.with_mask:
                # 'rec': the merged mask is the box, filled in the masks'
                # frame
                fill = self._box_to_image(
                    outs['bboxes'][i], pad_shape, meta, rescale, (out_h, out_w)
                )
                merged = torch.zeros(
                    (out_h, out_w), dtype=torch.bool, device=fill.device
                )
                x0, y0, x1, y1 = fill.round().long().tolist()
                merged[y0:y1, x0:x1] = True
            if not no_target:
                if self.with_mask:
                    inst.masks = merged[None]
                inst.bboxes = box[None].float()
                inst.scores = max_prob[i : i + 1]
                inst.labels = torch.zeros(
                    1, dtype=torch.long, device=max_prob.device
                )
            else:
                inst.masks = merged[None][:0]
                inst.bboxes = max_prob.new_zeros((0, 4))
                inst.scores = max_prob.new_zeros((0,))
                inst.labels = torch.zeros(
                    0, dtype=torch.long, device=max_prob.device
                )
            results.append(
                dict(
                    pred_instances=inst,
                    merged=merged,
                    no_target=no_target,
                    nt_score=float(1.0 - max_prob[i]),
                )
            )
        return results

    @staticmethod
    def _box_to_image(box, pad_shape, meta, rescale, out_shape):
        """Normalised (cx, cy, w, h) → xyxy in the image (or original)
        frame, clipped."""
        ph, pw = pad_shape
        xyxy = bbox_cxcywh_to_xyxy(box[None])[0] * box.new_tensor(
            [pw, ph, pw, ph]
        )
        img_h, img_w = meta['img_shape'][:2]
        xyxy = torch.minimum(
            xyxy.clamp(min=0), box.new_tensor([img_w, img_h, img_w, img_h])
        )
        if rescale and 'scale_factor' in meta:
            sx, sy = meta['scale_factor'][:2]
            xyxy = xyxy / box.new_tensor([sx, sy, sx, sy])
        out_h, out_w = out_shape
        return torch.minimum(
            xyxy.clamp(min=0), box.new_tensor([out_w, out_h, out_w, out_h])
        )
