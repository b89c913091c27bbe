# Copyright (c) mmgres contributors. All rights reserved.
"""Classic RefCOCO / RefCOCO+ / RefCOCOg (REC and RES)."""

from typing import List, Tuple

from mmgres.registry import DATASETS

from .refer_base import BaseReferDataset
from .utils.annotation_io import ReferFormatError, is_int


@DATASETS.register_module()
class RefCOCODataset(BaseReferDataset):
    """RefCOCO, RefCOCO+ and RefCOCOg: one target per expression.

    The refs file is the ``refer`` API's pickle ``refs({split_by}).p``
    (``unc`` for RefCOCO/RefCOCO+, ``umd`` or ``google`` for RefCOCOg); each
    ref's ``ann_id`` is a single COCO annotation id. Splits: ``train``,
    ``val``, ``testA``, ``testB`` (unc); ``train``, ``val``, ``test`` (umd);
    ``train``, ``val`` (google).

    Args:
        split_by (str, optional): ``'unc'``, ``'umd'`` or ``'google'``.
            Defaults to ``'unc'``.
        **kwargs: See :class:`BaseReferDataset`.
    """

    REFS_FORMAT = 'pickle'
    REFS_FILE_TEMPLATE = 'refs({split_by}).p'
    DEFAULT_SPLIT_BY = 'unc'

    def parse_targets(self, ref: dict) -> Tuple[List[int], bool]:
        ann_id = ref.get('ann_id')
        if not is_int(ann_id):
            raise ReferFormatError(
                f'"ann_id" must be a single int in RefCOCO-style refs, got '
                f'{ann_id!r}'
            )
        return [int(ann_id)], False
