# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG: region-aware anchoring for REC, RES and GRES."""

from typing import Dict, Optional, Tuple

from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .base_grounder import BaseGrounder


@MODELS.register_module()
class RaAMRVG(BaseGrounder):
    """RaAM-RVG: learnable region-aware anchors mediate the vision-language
    interaction inside the vision backbone.

    A thin grounder over four registered parts:

    1. ``text_encoder`` (:class:`HFTextEncoder`, BERT-base in the paper)
       gives the word features ``L`` (B, T, C_l) and their padding mask;
    2. ``backbone`` (:class:`AnchoredVisionBackbone`) runs a ViT or Swin
       stage by stage with the Region-aware Anchoring Network (Eq. 1-8), or
       the direct pixel-word attention of the Table 5(a) baseline, after
       every stage; it returns the fusion features ``F_i``, the layer
       outputs ``[V_i]`` and the anchors ``P_i``;
    3. ``neck`` (:class:`HierarchicalLayerFusion`, Eq. 9) averages each
       stage's layers into ``F^i_scale``;
    4. ``head`` (:class:`RegionAwareHead`, Eq. 10-15) predicts the per-region
       presence, the box and/or the mask from ``[F_scale]`` and ``P_K``,
       and holds the losses and the post-processing.

    The task is the head's ``mode``: ``'rec'`` (box), ``'res'`` (mask),
    ``'rec_res'`` (joint REC+RES, Eq. 14) or ``'gres'`` (mask and no-target,
    Eq. 15). Widths are wired from the parts, so a config names each only
    once: the backbone's ``text_channels`` defaults to the text encoder's
    width, the head's ``in_channels``, ``anchor_channels`` and
    ``region_grid`` to the backbone's.

    In ``predict`` mode every data sample gets the fields of the mmgres data
    contract: ``pred_instances`` (one instance, ``bboxes``, ``scores``,
    ``labels`` and in mask modes ``masks``; none when no target),
    ``pred_sem_seg`` (1×H×W bool, the mask, or the filled box in ``'rec'``
    mode), ``pred_no_target`` (only ever True in ``'gres'`` mode) and
    ``pred_nt_score``, in the original image frame.

    Args:
        backbone (dict): :class:`AnchoredVisionBackbone` config.
        text_encoder (dict): :class:`HFTextEncoder` config.
        head (dict): :class:`RegionAwareHead` config.
        neck (dict): Config of the layer fusion. Defaults to
            :class:`HierarchicalLayerFusion`.
        train_cfg (dict, optional): Passed to the head.
        test_cfg (dict, optional): Passed to the head (``presence_thr``,
            ``mask_thr``); ``rescale`` and ``rescale_boxes`` set the output
            frame (see :class:`BaseGrounder`).
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        text_encoder: ConfigType,
        head: ConfigType,
        neck: ConfigType = dict(type='HierarchicalLayerFusion'),
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(
            text_encoder=text_encoder,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
        )
        backbone = dict(backbone)
        backbone.setdefault('text_channels', self.text_encoder.embed_dims)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        head = dict(head)
        grid = tuple(head.setdefault('region_grid', self.backbone.region_grid))
        if grid != tuple(self.backbone.region_grid):
            raise ValueError(
                f'head region_grid {grid} differs from the backbone '
                f'region_grid {tuple(self.backbone.region_grid)}: the '
                'anchors would not match the regions'
            )
        head.setdefault('in_channels', list(self.backbone.out_channels))
        head.setdefault('anchor_channels', self.backbone.out_channels[-1])
        head.update(train_cfg=train_cfg, test_cfg=test_cfg)
        self.head = MODELS.build(head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @property
    def mode(self) -> str:
        """The task: ``'rec'``, ``'res'``, ``'rec_res'`` or ``'gres'``."""
        return self.head.mode

    def extract_feat(
        self, batch_inputs: Tensor, text: Dict[str, Tensor]
    ) -> Tuple[Tuple[Tensor, ...], Tensor]:
        """Encode the images with the words fused in after every stage.

        Args:
            batch_inputs (Tensor): Images, shape (B, 3, H, W).
            text (dict): Output of :class:`HFTextEncoder` (``token_feats``
                (B, T, C_l), ``padding_mask`` (B, T)).

        Returns:
            tuple: ``[F_scale]``, the K fused features (B, C_i, H_i, W_i)
            of Eq. 9, and ``P_K``, the last anchors (B, N, C_K).
        """
        out = self.backbone(
            batch_inputs, text['token_feats'], text['padding_mask']
        )
        feats = self.neck(out['feats'], out['layer_feats'])
        return feats, out['anchors'][-1]

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> dict:
        """The head's losses: ``loss_region`` and, by mode, ``loss_mask``,
        ``loss_bbox`` and ``loss_giou``."""
        text = self.extract_text(batch_data_samples)
        feats, anchors = self.extract_feat(batch_inputs, text)
        return self.head.loss(feats, anchors, batch_data_samples)

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: Optional[bool] = None,
    ) -> SampleList:
        """Add the predictions of the data contract to the samples; their
        frame: :meth:`BaseGrounder.output_frames`."""
        masks_rescaled, boxes_rescaled = self.output_frames(rescale)
        text = self.extract_text(batch_data_samples)
        feats, anchors = self.extract_feat(batch_inputs, text)
        results = self.head.predict(
            feats,
            anchors,
            batch_data_samples,
            masks_rescaled,
            boxes_rescaled,
        )
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: SampleList = None
    ) -> Dict[str, Tensor]:
        """Network forward without post-processing (``mode='tensor'``):
        the presence logits (B, N) and, by mode, the mask logits
        (B, 1, h, w) and the normalised boxes (B, 4)."""
        text = self.extract_text(batch_data_samples)
        feats, anchors = self.extract_feat(batch_inputs, text)
        return self.head(feats, anchors)
