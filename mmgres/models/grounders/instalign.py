# Copyright (c) mmgres contributors. All rights reserved.
from typing import Optional, Tuple

from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList

from .base_grounder import BaseGrounder


@MODELS.register_module()
class InstAlign(BaseGrounder):
    """InstAlign: instance-aware GRES with Phrase-Object Alignment.

    A thin grounder: a vision backbone (Swin), a text encoder (BERT) and
    :class:`InstAlignHead`, which holds the pixel decoder, the
    text-conditioned decoder, the losses and the post-processing.

    Args:
        backbone (dict): Vision backbone config.
        text_encoder (dict): Text encoder config.
        head (dict): :class:`InstAlignHead` config.
        train_cfg (dict, optional): Passed to the head (matching, points).
        test_cfg (dict, optional): Passed to the head (thresholds);
            ``rescale`` and ``rescale_boxes`` set the output frame (see
            :class:`BaseGrounder`).
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        text_encoder: ConfigType,
        head: ConfigType,
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
        self.backbone = MODELS.build(backbone)
        head = dict(head)
        head.update(train_cfg=train_cfg, test_cfg=test_cfg)
        head.setdefault('text_channels', self.text_encoder.embed_dims)
        self.head = MODELS.build(head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        return self.backbone(batch_inputs)

    def loss(
        self, batch_inputs: Tensor, batch_data_samples: SampleList
    ) -> dict:
        x = self.extract_feat(batch_inputs)
        text = self.extract_text(batch_data_samples)
        return self.head.loss(x, text, batch_data_samples)

    def predict(
        self,
        batch_inputs: Tensor,
        batch_data_samples: SampleList,
        rescale: Optional[bool] = None,
    ) -> SampleList:
        """Add the predictions of the data contract to the samples; their
        frame: :meth:`BaseGrounder.output_frames`."""
        masks_rescaled, boxes_rescaled = self.output_frames(rescale)
        x = self.extract_feat(batch_inputs)
        text = self.extract_text(batch_data_samples)
        results = self.head.predict(
            x, text, batch_data_samples, masks_rescaled, boxes_rescaled
        )
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: SampleList = None
    ) -> dict:
        """Network forward without post-processing (``mode='tensor'``):
        the head's per-layer relevance, masks, queries and phrases."""
        x = self.extract_feat(batch_inputs)
        text = self.extract_text(batch_data_samples)
        return self.head(x, text)
