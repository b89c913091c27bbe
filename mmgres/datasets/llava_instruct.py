# Copyright (c) mmgres contributors. All rights reserved.
"""LLaVA-Instruct-150K (Liu et al., NeurIPS 2023): the VQA part of GSVA's
pre-training mixture (GSVA appendix A, after LISA).

``llava_instruct_150k.json`` is a list of records over COCO train2017::

    {"id": "000000033471", "image": "000000033471.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nWhat ...?"},
                       {"from": "gpt", "value": "The bus ..."}, ...]}

The GSVA release (``data/vqa_dataset.py``, ``VQADataset``, after LISA)
reads each record's conversation through LLaVA's ``preprocess_multimodal``
(the ``<image>`` token moved to the start of its turn, followed by a
newline), skips a first turn that is not the human's and asserts that the
human and gpt turns alternate. The sample has no mask: only the language
loss applies.
"""

import copy
import json
from typing import Callable, List, Optional, Tuple

from mmengine.dataset import BaseDataset
from mmengine.fileio import get, join_path
from mmengine.logging import MMLogger

from mmgres.registry import DATASETS

from .refer_base import ReferDataError

Report = Callable[[str], None]

#: LLaVA's ``DEFAULT_IMAGE_TOKEN``
IMAGE_TOKEN = '<image>'
#: the roles of a turn, in the order they alternate
ROLES = ('human', 'gpt')


def preprocess_conversation(turns: List[dict], where: str) -> List[dict]:
    """The release's handling of a record's ``conversations``.

    1. ``preprocess_multimodal``: a turn holding ``<image>`` loses every
       ``<image>`` and is stripped; ``"<image>\\n"`` is put in front and the
       result stripped again;
    2. the first turn is dropped when it is not from ``human``;
    3. the turns must then alternate ``human``, ``gpt``, ``human``... and
       end with an answer (the release's label masking in ``collate_fn``
       fails on a last question without one).

    Args:
        turns (list[dict]): ``[{'from': ..., 'value': ...}, ...]``.
        where (str): Names the record in errors.

    Returns:
        list[dict]: New turns ``{'from', 'value'}``; the input is unchanged.

    Raises:
        ReferDataError: A turn is malformed, the roles do not alternate,
            no turn is left or the last one is a question.

    Example:
        >>> preprocess_conversation(
        ...     [{'from': 'human', 'value': 'What is it? <image>'},
        ...      {'from': 'gpt', 'value': 'A bus.'}], 'r')[0]['value']
        '<image>\\nWhat is it?'
    """
    if not isinstance(turns, list):
        raise ReferDataError(f'{where}: "conversations" must be a list')
    out = []
    for j, turn in enumerate(turns):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get('from'), str)
            or not isinstance(turn.get('value'), str)
        ):
            raise ReferDataError(
                f'{where}: turn {j} is not {{"from": str, "value": str}}'
            )
        if turn['from'] not in ROLES:
            raise ReferDataError(
                f'{where}: turn {j} is from {turn["from"]!r}, not one of '
                f'{ROLES}'
            )
        value = turn['value']
        if IMAGE_TOKEN in value:
            value = value.replace(IMAGE_TOKEN, '').strip()
            value = (IMAGE_TOKEN + '\n' + value).strip()
        out.append(dict(turn, value=value))
    if out and out[0]['from'] != ROLES[0]:
        out = out[
            1:
        ]  # the release: "Skip the first one if it is not from human"
    if not out:
        raise ReferDataError(f'{where}: no turn from "human"')
    for j, turn in enumerate(out):
        if turn['from'] != ROLES[j % 2]:
            raise ReferDataError(
                f'{where}: the roles do not alternate human/gpt: turn {j} '
                f'(after a leading non-human turn is skipped) is from '
                f'{turn["from"]!r}'
            )
    if len(out) % 2:
        # the release's label masking asserts on an unanswered question
        raise ReferDataError(f'{where}: the last question has no answer')
    return out


@DATASETS.register_module()
class LlavaInstructDataset(BaseDataset):
    """LLaVA-Instruct-150K: one VQA sample per record.

    A sample is::

        dict(img_path, img_id=<record id>, task='vqa', no_target=False,
             conversations=[{'from': 'human' | 'gpt', 'value': str}, ...],
             text=<the first human turn without <image>, stripped>)

    ``conversations`` is the record's, preprocessed as the release does
    (:func:`preprocess_conversation`); ``text`` only names the sample in
    logs and visualisations. There are no ``instances``:
    ``LoadReferringAnnotations`` gives such a sample empty ground truth
    and no ``gt_seg_map``. The records' image sizes are not in the file;
    ``LoadImageFromFile`` gives them.

    Args:
        ann_file (str): The JSON, relative to ``data_root``. Defaults to the
            GSVA release's ``'llava_dataset/llava_instruct_150k.json'``.
        data_prefix (dict): ``dict(img_path=...)``: the folder of the
            records' ``image``, under ``data_root``. Defaults to the
            release's ``dict(img_path='coco/train2017/')``.
        backend_args (dict, optional): mmengine file backend arguments.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``lazy_init``...).
    """

    METAINFO = dict(classes=('object',), palette=[(220, 20, 60)])

    def __init__(
        self,
        ann_file: str = 'llava_dataset/llava_instruct_150k.json',
        data_prefix: dict = dict(img_path='coco/train2017/'),
        backend_args: Optional[dict] = None,
        **kwargs,
    ) -> None:
        self.backend_args = backend_args
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read every record; raise on the first problem."""
        data_list = self._parse(report=None)
        MMLogger.get_current_instance().info(
            f'LlavaInstructDataset: {len(data_list)} conversations'
        )
        return data_list

    def scan(self) -> Tuple[List[dict], List[str]]:
        """Read every record without raising (for
        :func:`mmgres.datasets.utils.find_dataset_problems`).

        Returns:
            tuple[list[dict], list[str]]: The samples of the records that
            could be parsed, and one message per problem.
        """
        problems: List[str] = []
        return self._parse(report=problems.append), problems

    def _read(self) -> list:
        try:
            raw = get(self.ann_file, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'{self.ann_file}: LLaVA-Instruct file not found'
            ) from e
        try:
            records = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ReferDataError(
                f'{self.ann_file}: not valid JSON: {e}'
            ) from e
        if not isinstance(records, list):
            raise ReferDataError(
                f'{self.ann_file}: expected a JSON list of records, got a '
                f'{type(records).__name__}'
            )
        return records

    def _parse(self, report: Optional[Report]) -> List[dict]:
        try:
            records = self._read()
        except (FileNotFoundError, ReferDataError) as e:
            if report is None:
                raise
            report(str(e))
            return []
        data_list = []
        for i, record in enumerate(records):
            try:
                data_list.append(self._parse_record(i, record))
            except ReferDataError as e:
                if report is None:
                    raise
                report(str(e))
        return data_list

    def _parse_record(self, index: int, record) -> dict:
        rid = record.get('id', '?') if isinstance(record, dict) else '?'
        where = f'{self.ann_file}: record {index} (id={rid})'
        if not isinstance(record, dict):
            raise ReferDataError(f'{where} is not a JSON object')
        missing = [k for k in ('image', 'conversations') if k not in record]
        if missing:
            raise ReferDataError(f'{where} has no {missing}')
        if not isinstance(record['image'], str) or not record['image']:
            raise ReferDataError(f'{where}: "image" must be a file name')
        turns = preprocess_conversation(
            copy.deepcopy(record['conversations']), where
        )
        return dict(
            img_path=join_path(
                self.data_prefix.get('img_path', ''), record['image']
            ),
            img_id=record.get('id', record['image']),
            task='vqa',
            no_target=False,
            conversations=turns,
            text=turns[0]['value'].replace(IMAGE_TOKEN, '').strip(),
        )
