# Copyright (c) mmgres contributors. All rights reserved.
"""gRefCOCO (GRES / GREC): ``grefs(unc).json`` + COCO ``instances.json``."""

from typing import List, Tuple

from mmgres.registry import DATASETS

from .refer_base import BaseReferDataset
from .utils.annotation_io import ReferFormatError, is_int


@DATASETS.register_module()
class GRefCOCODataset(BaseReferDataset):
    """gRefCOCO, the generalized referring expression dataset (ReLA).

    The refs file is a JSON list; each ref's ``ann_id`` is a **list** of
    COCO annotation ids, ``[-1]`` meaning no target. Splits are ``train``,
    ``val``, ``testA`` and ``testB``. One sample per sentence, as ReLA's
    loader and evaluator use (278,232 expressions in the full release).

    Args:
        split_by (str, optional): Names ``grefs({split_by}).json``.
            Defaults to ``'unc'``.
        **kwargs: See :class:`BaseReferDataset`.

    Example:
        >>> from mmgres.utils import register_all_modules
        >>> register_all_modules()
        >>> ds = GRefCOCODataset(
        ...     data_root='data/grefcoco/', split='val',
        ...     data_prefix=dict(img_path='images/train2014/'),
        ...     pipeline=[dict(type='LoadImageFromFile'),
        ...               dict(type='LoadReferringAnnotations'),
        ...               dict(type='PackReferringInputs')])
        >>> ds[0]['data_samples'].text
        '...'
    """

    REFS_FORMAT = 'json'
    REFS_FILE_TEMPLATE = 'grefs({split_by}).json'
    DEFAULT_SPLIT_BY = 'unc'

    def parse_targets(self, ref: dict) -> Tuple[List[int], bool]:
        ann_ids = ref.get('ann_id')
        if (
            not isinstance(ann_ids, list)
            or not ann_ids
            or not all(is_int(a) for a in ann_ids)
        ):
            raise ReferFormatError(
                f'"ann_id" must be a non-empty list of ints ([-1] for no '
                f'target) in gRefCOCO, got {ann_ids!r}'
            )
        if ann_ids == [-1]:
            return [], True
        if -1 in ann_ids:
            raise ReferFormatError(
                f'"ann_id" {ann_ids} mixes -1 (no target) with targets'
            )
        return [int(a) for a in ann_ids], False
