# Copyright (c) mmgres contributors. All rights reserved.
"""What every mmgres grounder shares: the optional text encoder and the
packing of predictions into data samples."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData
from torch import Tensor

from mmgres.models.utils.checkpoint_coverage import (
    check_checkpoint_coverage,
)
from mmgres.models.utils.output_frame import resolve_rescale
from mmgres.registry import MODELS
from mmgres.utils import OptConfigType, OptMultiConfig, SampleList

#: Where a sample predicted "no target" keeps the model's own merged mask
#: and instances (see :func:`apply_no_target_contract`).
RAW_PRED_FIELDS = {
    'pred_sem_seg': 'pred_sem_seg_raw',
    'pred_instances': 'pred_instances_raw',
}


def raw_prediction(data_sample: DetDataSample, field: str):
    """The model's own ``pred_sem_seg`` or ``pred_instances`` of a sample:
    the ``_raw`` field when the sample has one, else the field itself.

    Args:
        data_sample (DetDataSample): A predicted sample.
        field (str): ``'pred_sem_seg'`` or ``'pred_instances'``.
    """
    if field not in RAW_PRED_FIELDS:
        raise KeyError(
            f'{field!r} has no raw counterpart; expected one of '
            f'{sorted(RAW_PRED_FIELDS)}'
        )
    raw = RAW_PRED_FIELDS[field]
    return data_sample.get(raw, data_sample.get(field, None))


def apply_no_target_contract(data_sample: DetDataSample) -> DetDataSample:
    """No target means no mask: clear a "no target" prediction's outputs.

    A user who reads the merged mask without looking at the flag must not
    get an answer the model itself rejected. When ``pred_no_target`` is
    True, ``pred_sem_seg`` becomes an all-false mask of the same shape and
    ``pred_instances`` keeps its fields with no instance; what the model
    predicted moves to ``pred_sem_seg_raw`` and ``pred_instances_raw``.
    These two exist only on such samples (elsewhere they would equal the
    plain fields); the metrics read them, because the official rules score
    the model's mask and boxes even where it says "no target" (e.g. the
    GRES union of a target sample predicted "no target").

    Idempotent: raw fields already present are kept as the source, so
    applying it again (or after :class:`GroundingTTAModel` merged raw
    views) gives the same result.

    Args:
        data_sample (DetDataSample): A sample with the predicted fields of
            :class:`BaseGrounder`.

    Returns:
        DetDataSample: The same sample, changed in place.
    """
    no_target = bool(data_sample.get('pred_no_target', False))
    for field, raw in RAW_PRED_FIELDS.items():
        value = raw_prediction(data_sample, field)
        if raw in data_sample:
            delattr(data_sample, raw)
        if value is None:
            continue
        if not no_target:
            setattr(data_sample, field, value)
            continue
        setattr(data_sample, raw, value)
        if field == 'pred_sem_seg':
            data = value.data
            empty = torch.zeros(
                data.shape, dtype=torch.bool, device=data.device
            )
            setattr(data_sample, field, PixelData(data=empty))
        else:
            setattr(
                data_sample,
                field,
                value[:0] if len(value) else value.clone(),
            )
    return data_sample


class BaseGrounder(BaseDetector):
    """Base class of grounding models (a grounder).

    A grounder takes images and one expression per image (in
    ``data_sample.metainfo['text']``) and, in ``predict`` mode, adds to each
    data sample what the data contract of ``docs`` asks for:
    ``pred_instances``, ``pred_sem_seg`` (the merged mask, 1×H×W),
    ``pred_no_target`` and ``pred_nt_score``. A sample predicted "no
    target" gets an empty merged mask and no instances; the model's own
    are kept in ``pred_sem_seg_raw`` and ``pred_instances_raw`` (see
    :func:`apply_no_target_contract`).

    Masks and boxes are in the original image frame (``ori_shape``) unless
    ``test_cfg.rescale`` is False (the ``img_shape`` frame, where ReLA and
    InstanceVG score); ``test_cfg.rescale_boxes`` sets the boxes' frame
    alone (see :mod:`mmgres.models.utils.output_frame`). ``predict``'s
    ``rescale`` argument, when given, overrides both.

    A grounder whose image encoder or MLLM reads the expression itself
    (IGVG's BEiT-3, GSVA's LLaVA) has no separate text encoder
    (:attr:`with_text_encoder` is False).

    Args:
        text_encoder (dict, optional): Config of the text encoder
            (:class:`HFTextEncoder`); None builds none.
        data_preprocessor (dict, optional): Config of the data preprocessor.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        text_encoder: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg
        )
        if text_encoder is not None:
            self.text_encoder = MODELS.build(text_encoder)

    @property
    def with_text_encoder(self) -> bool:
        """Whether the grounder has its own text encoder module
        (``text_encoder``), as mmdet's ``with_neck``."""
        return self._modules.get('text_encoder') is not None

    #: Load checkpoints that fill fewer than half of the state-dict entries
    #: (see :func:`check_checkpoint_coverage`); set by ``allow_partial_load``
    #: of the tools and the inferencer.
    allow_partial_load: bool = False

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # An empty prefix: this grounder is the root of the load and sees the
        # whole checkpoint. A sub-module's ``Pretrained`` init_cfg loads into
        # that sub-module and does not come here.
        if not prefix and not self.allow_partial_load:
            check_checkpoint_coverage(self, state_dict)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def output_frames(
        self, rescale: Optional[bool] = None
    ) -> Tuple[bool, bool]:
        """``(masks_rescaled, boxes_rescaled)`` of a prediction: the
        ``rescale`` argument of ``predict`` if given, else the test config
        (:func:`resolve_rescale`)."""
        return resolve_rescale(getattr(self, 'test_cfg', None), rescale)

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
        if not self.with_text_encoder:
            raise RuntimeError(
                f'{type(self).__name__} has no text encoder to encode the '
                'expressions with.'
            )
        return self.text_encoder(self.get_texts(batch_data_samples))

    @staticmethod
    def add_pred_to_datasample(
        data_samples: SampleList, results: Sequence[dict]
    ) -> SampleList:
        """Put a head's per-sample results into the data samples, under
        the no-target contract (:func:`apply_no_target_contract`).

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
            apply_no_target_contract(sample)
        return data_samples
