# Copyright (c) mmgres contributors. All rights reserved.
"""The shared loader of refs + COCO annotations.

Every referring dataset here is a refs file (a list of refs, each with an
image, target annotation ids and sentences) over a COCO ``instances.json``.
:class:`BaseReferDataset` reads both, yields one sample per sentence, and
leaves to its subclasses only how the refs file is named and read and how a
ref marks "no target".

A sample (one entry of ``data_list``) is::

    dict(img_path, img_id, height, width,   # from instances.json images
         text, ref_id, sent_id, no_target,
         instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0, ignore_flag=0,
                         mask=<polygons or RLE>, ann_id), ...])

plus dataset-specific keys (``exist`` for R-RefCOCO, ``source`` for Ref-ZOM),
and ``context_instances`` (all objects of the image, ``bbox_label`` 1 for
the non-targets) when the dataset is built with ``with_context=True``.
A no-target sample has no instances.

The image file name comes from ``instances.json`` (the refs' own
``file_name`` carries an annotation-id suffix in the official files).
``ref_id``/``sent_id`` are copied as they are and never used as keys across
files: the 2023 gRefCOCO re-release renumbered some of them.
"""

import gc
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.fileio import join_path
from mmengine.logging import MMLogger
from mmengine.utils import is_abs

from .utils.annotation_io import (
    ReferFormatError,
    load_coco,
    load_refs,
    paused_gc,
)
from .utils.segmentation import (
    clean_segmentation,
    is_valid_polygon,
    segmentation_problem,
)
from .utils.serialization import load_shared, serialize_shared

Report = Callable[[str], None]


class ReferDataError(ValueError):
    """An annotation is inconsistent (missing id, empty expression...)."""


class BaseReferDataset(BaseDataset):
    """Referring-expression dataset over a refs file and COCO annotations.

    Subclasses set :attr:`REFS_FORMAT`, :attr:`REFS_FILE_TEMPLATE`,
    :attr:`DEFAULT_SPLIT_BY` and implement :meth:`parse_targets` (and
    optionally :meth:`sample_fields`).

    Args:
        ann_file (str): COCO ``instances.json``, relative to ``data_root``.
            Defaults to ``'instances.json'``.
        refs_file (str, optional): The refs file, relative to ``data_root``.
            Defaults to :attr:`REFS_FILE_TEMPLATE` filled with ``split_by``,
            e.g. ``refs(unc).p``.
        split_by (str, optional): The split author (``unc``, ``umd``,
            ``google``, ``final``) naming the refs file. Defaults to
            :attr:`DEFAULT_SPLIT_BY`.
        split (str | Sequence[str]): Ref split(s) to keep, e.g. ``'train'``,
            ``'val'``, ``'testA'``. Defaults to ``'train'``.
        text_mode (str): ``'all'`` gives one sample per sentence (what the
            official loaders and evaluators do); ``'random'`` gives one
            sample per ref and draws one of its sentences at random on every
            access (LAVT-style training). Defaults to ``'all'``.
        text_key (str): Sentence field used as the expression: ``'raw'``
            (the original text, as LAVT and ReLA feed their text encoders)
            or ``'sent'`` (the lower-cased, tokenised one). The other field
            is used when the chosen one is missing. Defaults to ``'raw'``.
        data_prefix (dict): ``dict(img_path=...)``, the image folder
            relative to ``data_root``. Defaults to ``dict(img_path='')``.
        backend_args (dict, optional): mmengine file backend arguments.
        with_context (bool): Also give each sample ``context_instances``:
            every usable (non-crowd, valid) object of its image, in the
            format of ``instances``, with ``bbox_label`` 0 for the
            expression's targets and 1 for the other objects, and
            ``category``, the index of the object's COCO category in the
            sorted category ids of ``ann_file``. Training
            pipelines can supervise instance masks on all objects with it
            (``LoadReferringAnnotations(with_context=True)``). Objects
            that are not targets and cannot be parsed are left out (with a
            note in :meth:`scan`). Defaults to False.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``lazy_init``,
            ``metainfo``, ``indices``, ``serialize_data``...).
    """

    METAINFO = dict(classes=('object',), palette=[(220, 20, 60)])
    REFS_FORMAT: str = 'pickle'
    REFS_FILE_TEMPLATE: str = 'refs({split_by}).p'
    DEFAULT_SPLIT_BY: str = 'unc'

    def __init__(
        self,
        ann_file: str = 'instances.json',
        refs_file: Optional[str] = None,
        split_by: Optional[str] = None,
        split: Union[str, Sequence[str]] = 'train',
        text_mode: str = 'all',
        text_key: str = 'raw',
        data_prefix: dict = dict(img_path=''),
        backend_args: Optional[dict] = None,
        with_context: bool = False,
        **kwargs,
    ) -> None:
        if text_mode not in ('all', 'random'):
            raise ValueError(
                f"text_mode must be 'all' or 'random', got {text_mode!r}"
            )
        if text_key not in ('raw', 'sent'):
            raise ValueError(
                f"text_key must be 'raw' or 'sent', got {text_key!r}"
            )
        self.split_by = split_by or self.DEFAULT_SPLIT_BY
        self.refs_file = refs_file or self.REFS_FILE_TEMPLATE.format(
            split_by=self.split_by
        )
        self.split = split
        self.text_mode = text_mode
        self.text_key = text_key
        self.backend_args = backend_args
        self.with_context = with_context
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    # ------------------------------------------------------------------
    # Subclass hooks
    # ------------------------------------------------------------------
    def parse_targets(self, ref: dict) -> Tuple[List[int], bool]:
        """Read a ref's target annotation ids and its no-target flag.

        Args:
            ref (dict): One ref of the refs file.

        Returns:
            tuple[list[int], bool]: The COCO annotation ids (empty when
            there is no target) and whether the ref has no target.

        Raises:
            ReferFormatError: ``ann_id`` is not in the dataset's format.
        """
        raise NotImplementedError

    def sample_fields(
        self, ref: dict, sentence: dict, ref_no_target: bool
    ) -> dict:
        """Per-sentence fields: ``no_target`` plus dataset-specific keys.

        Args:
            ref (dict): The ref.
            sentence (dict): One of its sentences.
            ref_no_target (bool): What :meth:`parse_targets` said.

        Returns:
            dict: At least ``no_target``.
        """
        return dict(no_target=ref_no_target)

    # ------------------------------------------------------------------
    # mmengine BaseDataset interface
    # ------------------------------------------------------------------
    def _join_prefix(self) -> None:
        super()._join_prefix()
        if self.refs_file and not is_abs(self.refs_file) and self.data_root:
            self.refs_file = join_path(self.data_root, self.refs_file)

    def load_data_list(self) -> List[dict]:
        """Read the annotation files; raise on the first problem."""
        stats = dict(crowd=0, dropped=0)
        data_list = self._parse(report=None, stats=stats)
        num = len(data_list)
        if self.text_mode == 'random':
            num = sum(len(entry['samples']) for entry in data_list)
        MMLogger.get_current_instance().info(
            f'{type(self).__name__} split={self.split}: {num} sentences '
            f'(text_mode={self.text_mode}), skipped {stats["crowd"]} crowd '
            f'objects, dropped {stats["dropped"]} objects with no valid '
            'polygon'
        )
        return data_list

    def _serialize_data(self) -> Tuple[np.ndarray, np.ndarray]:
        """Serialize ``data_list`` with what samples share stored once.

        The sentences of a ref share its target list, refs share objects,
        and context instances repeat an image's masks: see
        :mod:`mmgres.datasets.utils.serialization`. The shared table is
        kept in ``shared_bytes`` / ``shared_address``.
        """
        entries, shared = serialize_shared(self.data_list)
        self.shared_bytes, self.shared_address = shared
        self.data_list.clear()
        gc.collect()
        return entries

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """Return sample ``idx``; in ``'random'`` text mode, one sentence of
        ref ``idx`` drawn at random."""
        if self.serialize_data:
            if idx < 0:
                idx += len(self)
            info = load_shared(
                (self.data_bytes, self.data_address),
                (self.shared_bytes, self.shared_address),
                idx,
            )
            info['sample_idx'] = idx
        else:
            info = super().get_data_info(idx)
        if self.text_mode == 'random':
            samples = info['samples']
            sample = samples[np.random.randint(len(samples))]
            sample['sample_idx'] = info['sample_idx']
            info = sample
        return info

    def scan(self) -> Tuple[List[dict], List[str]]:
        """Scan the annotation files without raising.

        Unlike :meth:`load_data_list`, problems do not stop the scan: format
        errors, refs pointing at missing images or annotations, empty
        expressions, malformed or invalid segmentations and target refs
        left with no usable object are all returned as messages. Images are
        not read here; see
        :func:`mmgres.datasets.utils.find_dataset_problems`.

        Returns:
            tuple[list[dict], list[str]]: The samples that could be parsed
            (one per sentence, whatever ``text_mode``) and one message per
            problem.
        """
        problems: List[str] = []
        data_list = self._parse(report=problems.append, stats=None, notes=True)
        if self.text_mode == 'random':
            data_list = [s for entry in data_list for s in entry['samples']]
        # an annotation shared by several refs is reported once
        return data_list, list(dict.fromkeys(problems))

    # ------------------------------------------------------------------
    # Parsing
    # ------------------------------------------------------------------
    def _parse(
        self,
        report: Optional[Report],
        stats: Optional[dict],
        notes: bool = False,
    ) -> List[dict]:
        """Parse the files. ``report=None`` raises on the first problem;
        otherwise problems go to ``report`` and parsing goes on. ``notes``
        also reports what the official loaders drop silently."""

        def fail(msg: str) -> None:
            if report is None:
                raise ReferDataError(msg)
            report(msg)

        self._note = report if notes else None
        self._stats = stats if stats is not None else dict(crowd=0, dropped=0)
        self._context_cache: Dict[int, List[dict]] = {}
        # an object targeted by several refs is parsed once; the refs
        # share its instance dict (samples are copies: get_data_info)
        self._instance_cache: Dict[int, dict] = {}
        self._img_paths: Dict[int, str] = {}
        self._labelled_cache: Dict[Tuple[int, int], dict] = {}
        self._category_index: Dict[int, int] = {}
        try:
            with paused_gc():
                return self._parse_files(report, fail)
        finally:
            self._note = None
            self._context_cache = {}
            self._instance_cache = {}
            self._img_paths = {}
            self._labelled_cache = {}

    def _parse_files(
        self, report: Optional[Report], fail: Report
    ) -> List[dict]:
        try:
            coco = load_coco(self.ann_file, self.backend_args)
            refs = load_refs(
                self.refs_file, self.REFS_FORMAT, self.backend_args
            )
        except (FileNotFoundError, ReferFormatError) as e:
            if report is None:
                raise
            report(str(e))
            return []
        # COCO category id -> index in the sorted ids (context instances)
        self._category_index = {c: i for i, c in enumerate(sorted(coco.cats))}

        wanted = (
            {self.split} if isinstance(self.split, str) else set(self.split)
        )
        present = sorted({str(ref['split']) for ref in refs})
        if not wanted & set(present):
            fail(
                f'{self.refs_file}: no ref has split {self.split!r}; the '
                f'splits present are {present}'
            )
            return []

        data_list = []
        for ref in refs:
            if ref['split'] not in wanted:
                continue
            samples = self._parse_ref(ref, coco, fail)
            if not samples:
                continue
            if self.text_mode == 'all':
                data_list.extend(samples)
            else:
                data_list.append(dict(samples=samples))
        return data_list

    def _parse_ref(self, ref: dict, coco, report: Report) -> List[dict]:
        failures: List[str] = []

        def fail(msg: str) -> None:
            failures.append(msg)
            report(msg)

        ref_id = ref['ref_id']
        where = f'{self.refs_file}: ref_id={ref_id}'
        img = coco.imgs.get(ref['image_id'])
        if img is None:
            fail(
                f'{where} has image_id={ref["image_id"]}, which is not in '
                f'{self.ann_file}'
            )
            return []
        try:
            ann_ids, no_target = self.parse_targets(ref)
        except ReferFormatError as e:
            fail(f'{where}: {e}')
            return []

        instances = []
        for ann_id in ann_ids:
            ann = coco.anns.get(ann_id)
            if ann is None:
                fail(
                    f'{where} refers to ann_id={ann_id}, which is not in '
                    f'{self.ann_file}'
                )
                continue
            if ann['image_id'] != ref['image_id']:
                fail(
                    f'{where} (image_id={ref["image_id"]}) refers to '
                    f'ann_id={ann_id} of another image '
                    f'(image_id={ann["image_id"]})'
                )
                continue
            if ann.get('iscrowd', 0):
                self._stats['crowd'] += 1
                continue
            instance = self._instance_cache.get(ann_id)
            if instance is None:
                instance = self._parse_instance(ann, img, fail)
                # a scan with notes re-reports an object for every ref
                if instance is not None and self._note is None:
                    self._instance_cache[ann_id] = instance
            if instance is not None:
                instances.append(instance)
        if failures:
            return []
        if not no_target and ann_ids and not instances and self._note:
            self._note(
                f'{where} has targets {ann_ids} but none is usable '
                '(crowd or no valid polygon): its samples have no '
                'instances although they are not no-target'
            )

        if not ref['sentences']:
            fail(f'{where} has no sentences')
            return []
        context = None
        if self.with_context:
            context = self._context_instances(coco, img)
        # one context list per target list (the ref's, or none for a
        # no-target sentence): the sentences of a ref share it
        context_of: Dict[bool, List[dict]] = {}
        samples = []
        img_path = self._img_paths.get(img['id'])
        if img_path is None:
            img_path = join_path(
                self.data_prefix.get('img_path', ''), img['file_name']
            )
            self._img_paths[img['id']] = img_path
        for i, sentence in enumerate(ref['sentences']):
            sample = self._parse_sentence(ref, i, sentence, no_target, fail)
            if sample is None:
                continue
            sample.update(
                img_path=img_path,
                img_id=img['id'],
                height=int(img['height']),
                width=int(img['width']),
                ref_id=ref_id,
            )
            sample['instances'] = [] if sample['no_target'] else instances
            if context is not None:
                key = sample['no_target']
                if key not in context_of:
                    targets = {i['ann_id'] for i in sample['instances']}
                    context_of[key] = [
                        self._labelled(i, int(i['ann_id'] not in targets))
                        for i in context
                    ]
                sample['context_instances'] = context_of[key]
            samples.append(sample)
        return samples

    def _labelled(self, instance: dict, label: int) -> dict:
        """``dict(instance, bbox_label=label)``, one per object and label:
        the refs of an image share them."""
        key = (id(instance), label)
        if key not in self._labelled_cache:
            self._labelled_cache[key] = dict(instance, bbox_label=label)
        return self._labelled_cache[key]

    def _context_instances(self, coco, img: dict) -> List[dict]:
        """Every usable object of ``img`` (parsed once per image)."""
        img_id = img['id']
        if img_id not in self._context_cache:
            where = f'{self.ann_file}: image_id={img_id}'

            def skip(msg: str) -> None:
                if self._note:
                    self._note(f'{msg} (left out of the context of {where})')

            categories = self._category_index
            parsed = []
            for ann in coco.imgToAnns.get(img_id, []):
                if ann.get('iscrowd', 0):
                    continue
                if ann.get('category_id') not in categories:
                    skip(
                        f'ann_id={ann["id"]} has category_id='
                        f'{ann.get("category_id")!r}, which is not in the '
                        'categories'
                    )
                    continue
                # a target's instance (and mask) is shared with its context
                instance = self._instance_cache.get(ann['id'])
                if instance is None:
                    instance = self._parse_instance(
                        ann, img, skip, count=False
                    )
                    if instance is not None and self._note is None:
                        self._instance_cache[ann['id']] = instance
                if instance is not None:
                    parsed.append(
                        dict(instance, category=categories[ann['category_id']])
                    )
            self._context_cache[img_id] = parsed
        return self._context_cache[img_id]

    def _parse_sentence(
        self,
        ref: dict,
        index: int,
        sentence,
        ref_no_target: bool,
        fail: Report,
    ) -> Optional[dict]:
        where = f'{self.refs_file}: ref_id={ref["ref_id"]}'
        if not isinstance(sentence, dict) or 'sent_id' not in sentence:
            fail(f'{where}: sentence {index} is not a dict with a "sent_id"')
            return None
        sent_id = sentence['sent_id']
        other = 'sent' if self.text_key == 'raw' else 'raw'
        text = sentence.get(self.text_key, sentence.get(other))
        if not isinstance(text, str) or not text.strip():
            fail(f'{where}, sent_id={sent_id}: empty expression {text!r}')
            return None
        try:
            fields = self.sample_fields(ref, sentence, ref_no_target)
        except ReferFormatError as e:
            fail(f'{where}, sent_id={sent_id}: {e}')
            return None
        fields['no_target'] = bool(fields['no_target'])
        return dict(text=text.strip(), sent_id=sent_id, **fields)

    def _parse_instance(
        self, ann: dict, img: dict, fail: Report, count: bool = True
    ) -> Optional[dict]:
        where = f'{self.ann_file}: ann_id={ann["id"]}'
        bbox = ann.get('bbox')
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            fail(f'{where} has no valid "bbox" [x, y, w, h]: {bbox!r}')
            return None
        segm = ann.get('segmentation')
        problem = segmentation_problem(
            segm, int(img['height']), int(img['width'])
        )
        all_polygons_invalid = (
            isinstance(segm, list)
            and segm
            and all(isinstance(p, (list, tuple)) for p in segm)
            and not any(is_valid_polygon(p) for p in segm)
        )
        if all_polygons_invalid:
            # the official loaders drop such an object silently
            if count:
                self._stats['dropped'] += 1
            if self._note and count:
                self._note(f'{where}: {problem}; the object is dropped')
            return None
        if problem is not None:
            fail(f'{where}: invalid segmentation: {problem}')
            return None
        if (
            self._note
            and isinstance(segm, list)
            and not all(is_valid_polygon(p) for p in segm)
        ):
            self._note(
                f'{where}: polygons with fewer than 3 points are dropped'
            )
        x, y, w, h = (float(v) for v in bbox)
        return dict(
            bbox=[x, y, x + w, y + h],
            bbox_label=0,
            ignore_flag=0,
            mask=clean_segmentation(segm),
            ann_id=ann['id'],
        )
