# Copyright (c) mmgres contributors. All rights reserved.
"""Semantic segmentation as referring samples (LISA's recipe, which GSVA's
pre-training mixture keeps, GSVA appendix A).

LISA and GSVA (``utils/sem_seg_dataset.py`` / ``data/sem_seg_dataset.py``,
``SemSegDataset``) read a label map, drop the ignored pixels (255, and for
COCO-Stuff every class whose name has a ``-``), draw
``num_classes_per_sample=3`` of the classes present without replacement,
and ask about each by its name, the mask being ``label == class_id``.
"""

import copy
from typing import List, Optional, Tuple, Union

import mmseg.registry  # noqa: F401  (makes the 'mmseg.' scope buildable)
import numpy as np
from mmengine.dataset import BaseDataset

from mmgres.registry import DATASETS

from .transforms.class_mask import IGNORE_INDEX, read_label_map

# mmseg's COCO-Stuff calls it "sky-other"; LISA's ``cocostuff_classes.txt``
# (whose names the class-skipping rule was written for) says "sky", so LISA
# keeps the class.
LISA_NAMES = {'sky-other': 'sky'}


def class_text(name: str) -> str:
    """The expression for a class: LISA's name, stripped, lower-cased
    (LISA's ``class_name=text.lower()``; mmseg's ADE20K has ``'bed '``).

    Example:
        >>> class_text('bed '), class_text('sky-other')
        ('bed', 'sky')
    """
    name = name.strip()
    return LISA_NAMES.get(name, name).lower()


def is_skipped_class(name: str) -> bool:
    """LISA's COCO-Stuff rule: a class whose name has a ``-`` is ignored
    (``if "-" in c: label[label == i] = 255``). No ADE20K name has one;
    Mapillary Vistas' have, and LISA keeps them there
    (``SemSegReferDataset(skip_hyphen_classes=False)``).

    Example:
        >>> is_skipped_class('wall-brick'), is_skipped_class('sky-other')
        (True, False)
    """
    return '-' in class_text(name)


@DATASETS.register_module()
class SemSegReferDataset(BaseDataset):
    """Referring samples from an mmseg semantic segmentation dataset.

    The inner dataset (e.g. ``mmseg.ADE20KDataset``,
    ``mmseg.COCOStuffDataset``) finds the image and label-map files; its
    ``classes`` name the classes. Each image gives ``classes_per_image``
    samples, one per class drawn from the classes present in its label map
    (ignored and skipped classes left out, :func:`is_skipped_class`),
    without replacement as LISA does. The draw is seeded by ``seed`` and
    the image index (Ours: LISA draws at random on each access), so the
    samples of an image ask about distinct classes and the same index
    always gives the same sample. A sample is::

        dict(img_path, seg_map_path, reduce_zero_label, label_map,
             img_index, text, class_id, no_target=False)

    ``text`` is the class name (:func:`class_text`); the model's
    conversation wraps it in its question. The label map is read when a
    sample is fetched (to find the classes present); put
    :class:`~mmgres.datasets.transforms.LoadClassMask` in the pipeline for
    the mask. An image with fewer classes present than
    ``classes_per_image`` has fewer samples, as in LISA: its extra indices
    return None from :meth:`prepare_data`, and mmengine's ``__getitem__``
    then fetches another index in training (Ours: how LISA's shorter
    dialogue maps onto fixed-length indices).

    Args:
        dataset (dict | BaseDataset): The mmseg dataset (config or object).
            Its own pipeline is not used.
        classes_per_image (int): Samples per image. Defaults to 3
            (``num_classes_per_sample`` of LISA's and GSVA's code; the
            GSVA paper does not say).
        seed (int): Seed of the per-image class draw. Defaults to 0 (Ours).
        skip_hyphen_classes (bool): Apply LISA's COCO-Stuff rule
            (:func:`is_skipped_class`). LISA applies it to COCO-Stuff only;
            it changes nothing on ADE20K. Defaults to True; False for
            Mapillary Vistas, whose "Lane Marking - ..." classes LISA asks
            about.
        backend_args (dict, optional): File backend for the label maps.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``...).
    """

    def __init__(
        self,
        dataset: Union[dict, BaseDataset],
        classes_per_image: int = 3,
        seed: int = 0,
        skip_hyphen_classes: bool = True,
        backend_args: Optional[dict] = None,
        **kwargs,
    ) -> None:
        if classes_per_image < 1:
            raise ValueError(
                f'classes_per_image must be >= 1, got {classes_per_image}'
            )
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dict(dataset, pipeline=[]))
        self.dataset = dataset
        self.classes_per_image = classes_per_image
        self.seed = seed
        self.skip_hyphen_classes = skip_hyphen_classes
        self.backend_args = backend_args
        kwargs.setdefault('metainfo', copy.deepcopy(dataset.metainfo))
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """One entry per (image, slot); the class is drawn when fetched."""
        self.dataset.full_init()
        data_list = []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            entry = dict(
                img_path=info['img_path'],
                seg_map_path=info.get('seg_map_path'),
                reduce_zero_label=info.get('reduce_zero_label', False),
                label_map=info.get('label_map'),
                img_index=i,
            )
            for slot in range(self.classes_per_image):
                data_list.append(dict(entry, class_slot=slot))
        return data_list

    def scan(self) -> Tuple[List[dict], List[str]]:
        """Check every label map without raising (for
        :func:`mmgres.datasets.utils.find_dataset_problems`): it exists,
        decodes, has the image's size and only class values or 255, and
        gives at least one class to ask about.

        Returns:
            tuple[list[dict], list[str]]: One entry per image (its
            ``img_path``, for the image checks) and one message per
            problem.
        """
        self.dataset.full_init()
        names = self.metainfo['classes']
        samples, problems = [], []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            where = info.get('seg_map_path')
            try:
                label = read_label_map(info, self.backend_args)
            except Exception as e:  # report and go on: that is the scan
                problems.append(f'{where}: {e}')
                continue
            h, w = label.shape[:2]
            samples.append(dict(img_path=info['img_path'], height=h, width=w))
            values = [int(v) for v in np.unique(label) if v != IGNORE_INDEX]
            unknown = [v for v in values if v >= len(names)]
            if unknown:
                problems.append(
                    f'{where}: label values {unknown} are not classes '
                    f'({len(names)} classes, {IGNORE_INDEX} ignored)'
                )
            elif self.skip_hyphen_classes:
                values = [v for v in values if not is_skipped_class(names[v])]
            if not unknown and not values:
                problems.append(f'{where}: no class to ask about')
        return samples, problems

    def sampled_classes(self, info: dict) -> List[int]:
        """The classes drawn for the image of ``info``, in draw order.

        Raises:
            ValueError: The label map has a value that is neither a class
                nor 255 (names the file).
        """
        names = self.metainfo['classes']
        label = read_label_map(info, self.backend_args)
        present = [int(v) for v in np.unique(label) if v != IGNORE_INDEX]
        unknown = [v for v in present if v >= len(names)]
        if unknown:
            raise ValueError(
                f'{info["seg_map_path"]}: label values {unknown} are not '
                f'classes of {type(self.dataset).__name__} '
                f'({len(names)} classes, {IGNORE_INDEX} ignored)'
            )
        if self.skip_hyphen_classes:
            present = [v for v in present if not is_skipped_class(names[v])]
        rng = np.random.default_rng([self.seed, info['img_index']])
        size = min(self.classes_per_image, len(present))
        return [int(v) for v in rng.choice(present, size, replace=False)]

    def get_data_info(self, idx: int) -> dict:
        """Sample ``idx`` with its class (``text``, ``class_id``), or with
        ``class_id`` None when its image has too few classes."""
        info = super().get_data_info(idx)
        drawn = self.sampled_classes(info)
        slot = info['class_slot']
        info['no_target'] = False
        if slot >= len(drawn):
            info['class_id'], info['text'] = None, None
            return info
        info['class_id'] = drawn[slot]
        info['text'] = class_text(self.metainfo['classes'][drawn[slot]])
        return info

    def prepare_data(self, idx: int):
        """The pipeline's output, None for a slot without a class."""
        info = self.get_data_info(idx)
        if info['class_id'] is None:
            return None
        return self.pipeline(info)
