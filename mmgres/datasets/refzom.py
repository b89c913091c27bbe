# Copyright (c) mmgres contributors. All rights reserved.
"""Ref-ZOM (DMMI): ``refs(final).p`` + COCO ``instances.json``."""

from typing import List, Tuple

from mmgres.registry import DATASETS

from .refer_base import BaseReferDataset
from .utils.annotation_io import ReferFormatError, is_int


@DATASETS.register_module()
class RefZOMDataset(BaseReferDataset):
    """Ref-ZOM: one-to-zero, one-to-one and one-to-many expressions.

    The refs file is the pickle ``refs(final).p`` (split by ``final``,
    splits ``train`` and ``test``); images are COCO train2014 and val2014
    merged into one folder. A ref's ``source`` is ``'zero'``, ``'one'`` or
    ``'many'``. A ref has no target when ``source == 'zero'`` (DMMI) or when
    its ``ann_id`` is empty (the loaders that test ``ann_id == []``); both
    are accepted. ``ann_id`` may be a list or a single int. Each sample
    carries ``source`` (None when the ref has none).

    Args:
        split_by (str, optional): Defaults to ``'final'``.
        **kwargs: See :class:`BaseReferDataset`.
    """

    REFS_FORMAT = 'pickle'
    REFS_FILE_TEMPLATE = 'refs({split_by}).p'
    DEFAULT_SPLIT_BY = 'final'

    def parse_targets(self, ref: dict) -> Tuple[List[int], bool]:
        ann_ids = ref.get('ann_id', [])
        if is_int(ann_ids):
            ann_ids = [ann_ids]
        if not isinstance(ann_ids, list) or not all(
            is_int(a) for a in ann_ids
        ):
            raise ReferFormatError(
                f'"ann_id" must be an int or a list of ints, got {ann_ids!r}'
            )
        if ref.get('source') == 'zero' or not ann_ids:
            return [], True
        return [int(a) for a in ann_ids], False

    def sample_fields(
        self, ref: dict, sentence: dict, ref_no_target: bool
    ) -> dict:
        return dict(no_target=ref_no_target, source=ref.get('source'))
