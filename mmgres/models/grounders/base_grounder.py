# Copyright (c) mmgres contributors. All rights reserved.
"""What every mmgres grounder shares: the text encoder and the packing of
predictions into data samples."""

from typing import Dict, List, Sequence

from mmdet.models.detectors.base import BaseDetector
from mmengine.structures import PixelData
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig, SampleList


class BaseGrounder(BaseDetector):
    """Base class of grounding models (a grounder).

    A grounder takes images and one expression per image (in
    ``data_sample.metainfo['text']``) and, in ``predict`` mode, adds to each
    data sample what the data contract of ``docs`` asks for:
    ``pred_instances``, ``pred_sem_seg`` (the merged mask, 1×H×W),
    ``pred_no_target`` and ``pred_nt_score``.

    Args:
        text_encoder (dict): Config of the text encoder
            (:class:`HFTextEncoder`).
        data_preprocessor (dict, optional): Config of the data preprocessor.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        text_encoder: ConfigType,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        self.text_encoder = MODELS.build(text_encoder)

    @staticmethod
    def get_texts(batch_data_samples: SampleList) -> List[str]:
        """The expressions of a batch; an empty one is an error that names
        the sample."""
        texts = []
        for sample in batch_data_samples:
            text = sample.metainfo.get('text')
            if text is None or not str(text).strip():
                raise ValueError(
                    'Empty referring expression for '
                    f'img_path={sample.metainfo.get("img_path")!r}, '
                    f'ref_id={sample.metainfo.get("ref_id")!r}, '
                    f'sent_id={sample.metainfo.get("sent_id")!r}.'
                )
            texts.append(str(text))
        return texts

    def extract_text(
        self, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """Encode the batch's expressions (see :class:`HFTextEncoder`)."""
        return self.text_encoder(self.get_texts(batch_data_samples))

    @staticmethod
    def add_pred_to_datasample(
        data_samples: SampleList, results: Sequence[dict]
    ) -> SampleList:
        """Put a head's per-sample results into the data samples.

        Args:
            data_samples (list[DetDataSample]): The batch.
            results (list[dict]): ``pred_instances``, ``merged`` (H, W) bool,
                ``no_target`` and ``nt_score`` per sample.
        """
        for sample, res in zip(data_samples, results):
            sample.pred_instances = res['pred_instances']
            sample.pred_sem_seg = PixelData(data=res['merged'][None])
            sample.pred_no_target = bool(res['no_target'])
            sample.pred_nt_score = float(res['nt_score'])
        return data_samples
