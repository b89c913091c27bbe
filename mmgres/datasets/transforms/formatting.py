# Copyright (c) mmgres contributors. All rights reserved.
"""Packing a referring sample into a ``DetDataSample``."""

from typing import Sequence

from mmcv.transforms import to_tensor
from mmdet.datasets.transforms import PackDetInputs
from mmengine.structures import PixelData

from mmgres.registry import TRANSFORMS

DEFAULT_META_KEYS = (
    'img_id',
    'img_path',
    'ori_shape',
    'img_shape',
    'scale_factor',
    'flip',
    'flip_direction',
    'text',
    'ref_id',
    'sent_id',
    'no_target',
    'exist',
    'source',
    # the CLIP view of the original image (CLIPImageInput), when made
    'clip_img',
    # GSVA's pre-training mixture: the kind of sample ('refer' when
    # absent, 'reason', 'vqa'), ReasonSeg's query form and explanatory
    # answer, LLaVA-Instruct's dialogue
    'task',
    'is_sentence',
    'explanation',
    'conversations',
)


@TRANSFORMS.register_module()
class PackReferringInputs(PackDetInputs):
    """Pack the image and referring ground truth for a grounding model.

    Gives ``dict(inputs=<(3, H, W) uint8 tensor>, data_samples=DetDataSample)``
    with

    - ``metainfo``: the ``meta_keys`` present in the sample; ``flip``
      defaults to False, ``flip_direction`` to None and ``scale_factor``
      to ``(1.0, 1.0)`` when no transform set them, and ``no_target`` to
      False;
    - ``gt_instances``: ``bboxes`` (HorizontalBoxes, (N, 4) xyxy),
      ``labels`` ((N, ), all 0), ``masks`` (BitmapMasks, (N, H, W)); N = 0
      for a no-target sample and for a sample without mask ground truth
      (``task='vqa'``);
    - ``gt_sem_seg``: ``PixelData(data=<(1, H, W) uint8 tensor>)``, the
      merged mask (mmseg's field name, not mmdet's ``sem_seg``); absent
      for a ``task='vqa'`` sample;
    - ``gt_context_instances`` when ``LoadReferringAnnotations(
      with_context=True)`` loaded every object of the image: all of them,
      ``labels`` 0 for the targets and 1 for the others, ``categories``
      their category indices; ``gt_instances`` then keeps the targets
      only.

    Args:
        meta_keys (Sequence[str]): Keys copied into the metainfo when
            present. Defaults to :data:`DEFAULT_META_KEYS`.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results (dict): Output of the referring pipeline.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        results = dict(results)
        results.setdefault('flip', False)
        results.setdefault('flip_direction', None)
        results.setdefault('scale_factor', (1.0, 1.0))
        results['no_target'] = bool(results.get('no_target', False))
        seg_map = results.pop('gt_seg_map', None)
        with_context = results.pop('with_context', False)
        packed = super().transform(results)
        if with_context:
            sample = packed['data_samples']
            context = sample.gt_instances
            packed_labels = context.labels
            context.categories = packed_labels // 2
            context.labels = packed_labels % 2
            keep = (context.labels == 0).nonzero().flatten()
            targets = context[keep]
            del targets.categories
            targets.labels = targets.labels.new_zeros(len(targets))
            sample.gt_context_instances = context
            sample.gt_instances = targets
        if seg_map is not None:
            packed['data_samples'].gt_sem_seg = PixelData(
                data=to_tensor(seg_map[None, ...].copy())
            )
        return packed
