# Copyright (c) mmgres contributors. All rights reserved.
"""R-RefCOCO / R-RefCOCO+ / R-RefCOCOg (RefSegformer)."""

from typing import List, Tuple

from mmgres.registry import DATASETS

from .refer_base import BaseReferDataset
from .utils.annotation_io import ReferFormatError, is_int


@DATASETS.register_module()
class RRefCOCODataset(BaseReferDataset):
    """R-RefCOCO and its + / g variants: RefCOCO refs with negatives.

    The refs file is a RefCOCO-style pickle ``refs({split_by}).p`` whose
    ``ann_id`` is a single COCO annotation id; every sentence carries
    ``exist``, False for a *negative* sentence that describes nothing in the
    image. A negative sentence is a no-target sample (no instances). Each
    sample carries ``exist``; the R-RefCOCO metrics group samples by
    ``ref_id`` and use it.

    ``exist`` is read from the sentence, or from the ref when the sentence
    has none; a sentence with neither is a format error.

    Args:
        split_by (str, optional): ``'unc'`` (R-RefCOCO, R-RefCOCO+) or
            ``'umd'`` (R-RefCOCOg). Defaults to ``'unc'``.
        **kwargs: See :class:`BaseReferDataset`.
    """

    REFS_FORMAT = 'pickle'
    REFS_FILE_TEMPLATE = 'refs({split_by}).p'
    DEFAULT_SPLIT_BY = 'unc'

    def parse_targets(self, ref: dict) -> Tuple[List[int], bool]:
        ann_id = ref.get('ann_id')
        if isinstance(ann_id, list) and len(ann_id) == 1:
            ann_id = ann_id[0]
        if not is_int(ann_id):
            raise ReferFormatError(
                f'"ann_id" must be a single int in R-RefCOCO refs, got '
                f'{ann_id!r}'
            )
        return [int(ann_id)], False

    def sample_fields(
        self, ref: dict, sentence: dict, ref_no_target: bool
    ) -> dict:
        exist = sentence.get('exist', ref.get('exist'))
        if exist is None:
            raise ReferFormatError(
                'the sentence has no "exist" flag (R-RefCOCO marks negative '
                'sentences with exist=False)'
            )
        exist = bool(exist)
        return dict(no_target=ref_no_target or not exist, exist=exist)
