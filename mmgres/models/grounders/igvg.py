# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG: instance-aware generalized visual grounding (GREC + GRES)."""

from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .base_grounder import BaseGrounder


@MODELS.register_module()
class IGVG(BaseGrounder):
    """IGVG: one model for GREC and GRES.

    A thin grounder:

    1. ``backbone``, the multi-modality encoder (:class:`BEiT3`), encodes
       the image and the expression together and projects both to C,
       giving F_i (B, C, H/16, W/16) and F_t (B, L, C);
    2. ``neck`` (:class:`SimFPN`) builds the multi-scale levels from F_i;
    3. ``head`` (:class:`IGVGHead`) holds the global branch (UNet decoder,
       no-target branch), the point-guided instance-aware perception head
       (AQG + deformable decoder), the matching, the losses and the
       post-processing.

    BEiT-3 tokenizes and encodes the expressions itself, so there is no
    separate text encoder (:attr:`with_text_encoder` is False);
    :attr:`text_encoder` names the backbone for tools that ask for the
    tokenizer or ``max_length``.

    In ``predict`` mode each data sample gets, besides the common fields
    (``pred_instances`` with ``bboxes``, ``scores``, ``masks``, ``labels``
    and each kept instance's reference point ``points``; ``pred_sem_seg``;
    ``pred_no_target``; ``pred_nt_score``), ``pred_points`` (N_q, 2): every
    reference point chosen by DPS, (x, y) in the original image frame.

    Args:
        backbone (dict): :class:`BEiT3` config.
        neck (dict): :class:`SimFPN` config.
        head (dict): :class:`IGVGHead` config; ``embed_dims`` defaults to
            the backbone's ``out_channels``.
        train_cfg (dict, optional): Passed to the head (``assigner``).
        test_cfg (dict, optional): Passed to the head (thresholds);
            ``rescale`` and ``rescale_boxes`` set the output frame (see
            :class:`BaseGrounder`).
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: ConfigType,
        head: ConfigType,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        # BEiT-3 reads the text itself: no separate text encoder to build
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        head = dict(head)
        head.update(train_cfg=train_cfg, test_cfg=test_cfg)
        head.setdefault('embed_dims', self.backbone.out_channels)
        self.head = MODELS.build(head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @property
    def text_encoder(self):
        """The module that tokenizes the expressions: the backbone
        (``tokenizer``, ``max_length``)."""
        return self.backbone

    def extract_feat(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> Tuple[Tuple[Tensor], Dict[str, Tensor]]:
        """Encode images and expressions.

        Returns:
            tuple: The SimFPN levels and the backbone's output dict
            (``img_feats``, ``text_feats``, ``text_padding_mask``, ...).
        """
        enc = self.backbone(
            batch_inputs, texts=self.get_texts(batch_data_samples)
        )
        return self.neck(enc['img_feats']), enc

    def _head_inputs(self, batch_inputs, batch_data_samples) -> tuple:
        feats, enc = self.extract_feat(batch_inputs, batch_data_samples)
        return (
            feats,
            enc['img_feats'],
            enc['text_feats'],
            enc['text_padding_mask'],
        )

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> dict:
        inputs = self._head_inputs(batch_inputs, batch_data_samples)
        return self.head.loss(*inputs, batch_data_samples)

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: Optional[bool] = None,
    ) -> SampleList:
        """Add the predictions of the data contract (and ``pred_points``)
        to the samples; their frame: :meth:`BaseGrounder.output_frames`."""
        masks_rescaled, boxes_rescaled = self.output_frames(rescale)
        inputs = self._head_inputs(batch_inputs, batch_data_samples)
        results = self.head.predict(
            *inputs, batch_data_samples, masks_rescaled, boxes_rescaled
        )
        return self.add_pred_to_datasample(batch_data_samples, results)

    @staticmethod
    def add_pred_to_datasample(
        data_samples: SampleList, results: Sequence[dict]
    ) -> SampleList:
        """The common fields (see :class:`BaseGrounder`) plus
        ``pred_points``."""
        BaseGrounder.add_pred_to_datasample(data_samples, results)
        for sample, res in zip(data_samples, results):
            sample.pred_points = res['points']
        return data_samples

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: SampleList = None
    ) -> dict:
        """Network forward without post-processing (``mode='tensor'``):
        the head's raw outputs (see :meth:`IGVGHead.forward`)."""
        feats, img_feats, text_feats, text_pad = self._head_inputs(
            batch_inputs, batch_data_samples
        )
        metas = [s.metainfo for s in batch_data_samples]
        return self.head(feats, img_feats, text_feats, text_pad, metas)
