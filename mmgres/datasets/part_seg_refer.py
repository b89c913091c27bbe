# Copyright (c) mmgres contributors. All rights reserved.
"""Part segmentation as referring samples: PACO-LVIS and PASCAL-Part
(LISA's recipe, which GSVA's pre-training mixture keeps, GSVA appendix A).

LISA and GSVA (``utils/sem_seg_dataset.py`` / ``data/sem_seg_dataset.py``:
``init_paco_lvis``, ``init_pascal_part`` and the ``paco_lvis`` /
``pascal_part`` branch of ``SemSegDataset.__getitem__``) read a COCO-format
JSON with pycocotools, draw ``num_classes_per_sample=3`` of an image's
*annotations* without replacement, ask about each by its category name,
``"obj:part"`` read as ``"{obj} {part}"`` or ``"the {part} of the {obj}"``
with probability 1/2 each, and take the annotation's ``annToMask`` as the
mask.
"""

from typing import Callable, List, Optional, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path
from mmengine.logging import MMLogger

from mmgres.registry import DATASETS

from .refer_base import ReferDataError
from .utils.annotation_io import ReferFormatError, load_coco
from .utils.segmentation import (
    clean_segmentation,
    is_valid_polygon,
    segmentation_problem,
)

Report = Callable[[str], None]
#: a category: its object name alone, or (object, part)
CategoryName = Union[str, Tuple[str, str]]


def part_phrase(name: CategoryName, obj_first: bool) -> str:
    """The expression of a category, as the release words it: an
    ``(obj, part)`` pair is ``"obj part"`` (``obj_first``) or ``"the part
    of the obj"``; a plain name is itself.

    Example:
        >>> part_phrase(('dog', 'head'), True)
        'dog head'
        >>> part_phrase(('dog', 'head'), False)
        'the head of the dog'
        >>> part_phrase('dog', False)
        'dog'
    """
    if isinstance(name, str):
        return name
    obj, part = name
    return f'{obj} {part}' if obj_first else f'the {part} of the {obj}'


class PartSegReferDataset(BaseDataset):
    """Referring samples from a COCO-format part segmentation JSON.

    Subclasses set :meth:`category_name` (how a category's ``name`` is
    read) and the default files. Each image gives up to
    ``anns_per_image`` samples, one per annotation drawn from the image's
    annotations without replacement, as LISA does; an image with fewer
    annotations gives one sample per annotation, and an image without
    any gives none (Ours: the release then trains on another image). The
    draw, and the choice between the two phrasings of an ``obj:part``
    category (:func:`part_phrase`, 1/2 each as in the release), are seeded
    by ``seed`` and the image's position in the JSON, and made once when
    the JSON is read (Ours: the release draws again on each access), so
    the samples of an image ask about distinct annotations and the same
    index always gives the same sample. A sample is, in the format of the
    referring datasets (``LoadReferringAnnotations`` makes its mask, the
    annotation's ``segmentation`` as pycocotools' ``annToMask`` decodes
    it)::

        dict(img_path, img_id, height, width, text, category_id,
             no_target=False,
             instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=0,
                             ignore_flag=0, mask=<polygons or RLE>,
                             ann_id)])

    Annotations whose polygons all have fewer than 3 points are left out
    of the draw (as the referring loaders drop them); other malformed
    annotations raise :class:`ReferDataError` naming the file and id.

    Args:
        ann_file (str): The COCO-format JSON, relative to ``data_root``.
        data_prefix (dict): ``dict(img_path=...)``: the folder the images'
            ``file_name`` is relative to, under ``data_root``.
        anns_per_image (int): Samples per image. Defaults to 3
            (``num_classes_per_sample`` of LISA's and GSVA's code; the
            GSVA paper does not say).
        seed (int): Seed of the per-image draws. Defaults to 0 (Ours).
        backend_args (dict, optional): mmengine file backend arguments.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``lazy_init``...).
    """

    METAINFO = dict(classes=('object',), palette=[(220, 20, 60)])

    def __init__(
        self,
        ann_file: str,
        data_prefix: dict,
        anns_per_image: int = 3,
        seed: int = 0,
        backend_args: Optional[dict] = None,
        **kwargs,
    ) -> None:
        if anns_per_image < 1:
            raise ValueError(
                f'anns_per_image must be >= 1, got {anns_per_image}'
            )
        self.anns_per_image = anns_per_image
        self.seed = seed
        self.backend_args = backend_args
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def category_name(self, name: str) -> CategoryName:
        """Read a category's ``name``: the object name, or ``(obj, part)``.

        Raises:
            ValueError: The name is not in the dataset's form.
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """Read the JSON and draw the samples; raise on the first problem."""
        stats = dict(dropped=0, images=0)
        data_list = self._parse(report=None, stats=stats)
        MMLogger.get_current_instance().info(
            f'{type(self).__name__}: {len(data_list)} samples from '
            f'{stats["images"]} images, dropped {stats["dropped"]} '
            'annotations with no valid polygon'
        )
        return data_list

    def scan(self) -> Tuple[List[dict], List[str]]:
        """Read the JSON without raising (for
        :func:`mmgres.datasets.utils.find_dataset_problems`).

        Returns:
            tuple[list[dict], list[str]]: The samples of the images that
            could be parsed, and one message per problem.
        """
        problems: List[str] = []
        data_list = self._parse(report=problems.append, stats=None)
        return data_list, problems

    def _parse(self, report: Optional[Report], stats: Optional[dict]):
        stats = stats if stats is not None else dict(dropped=0, images=0)
        try:
            coco = load_coco(self.ann_file, self.backend_args)
        except (FileNotFoundError, ReferFormatError) as e:
            if report is None:
                raise
            report(str(e))
            return []

        def fail(msg: str) -> None:
            if report is None:
                raise ReferDataError(msg)
            report(msg)

        names, unreadable = {}, set()
        for cat_id, cat in coco.cats.items():
            try:
                names[cat_id] = self.category_name(str(cat['name']))
            except (KeyError, ValueError) as e:
                unreadable.add(cat_id)  # reported once, not per annotation
                fail(f'{self.ann_file}: category id={cat_id}: {e}')
        data_list = []
        for index, img_id in enumerate(coco.getImgIds()):
            img = coco.imgs[img_id]
            instances = []
            for ann in coco.imgToAnns.get(img_id, []):
                if ann.get('category_id') in unreadable:
                    continue
                instance = self._parse_instance(ann, img, names, fail, stats)
                if instance is not None:
                    instances.append(instance)
            if not instances:
                continue
            stats['images'] += 1
            data_list.extend(self._draw(index, img, instances))
        return data_list

    def _parse_instance(
        self, ann: dict, img: dict, names: dict, fail: Report, stats: dict
    ) -> Optional[dict]:
        where = f'{self.ann_file}: ann_id={ann["id"]}'
        if ann.get('category_id') not in names:
            fail(
                f'{where} has category_id={ann.get("category_id")!r}, which '
                'is not in the categories'
            )
            return None
        bbox = ann.get('bbox')
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            fail(f'{where} has no valid "bbox" [x, y, w, h]: {bbox!r}')
            return None
        segm = ann.get('segmentation')
        problem = segmentation_problem(
            segm, int(img['height']), int(img['width'])
        )
        if (
            isinstance(segm, list)
            and segm
            and all(isinstance(p, (list, tuple)) for p in segm)
            and not any(is_valid_polygon(p) for p in segm)
        ):
            stats['dropped'] += 1
            return None
        if problem is not None:
            fail(f'{where}: invalid segmentation: {problem}')
            return None
        x, y, w, h = (float(v) for v in bbox)
        return dict(
            bbox=[x, y, x + w, y + h],
            bbox_label=0,
            ignore_flag=0,
            mask=clean_segmentation(segm),
            ann_id=ann['id'],
            name=names[ann['category_id']],
            category_id=ann['category_id'],
        )

    def _draw(self, index: int, img: dict, instances: List[dict]):
        """The samples of one image: its drawn annotations, each with its
        drawn phrasing."""
        rng = np.random.default_rng([self.seed, index])
        size = min(self.anns_per_image, len(instances))
        picked = rng.choice(len(instances), size, replace=False)
        img_path = join_path(
            self.data_prefix.get('img_path', ''), img['file_name']
        )
        samples = []
        for i in picked:
            instance = dict(instances[int(i)])
            name = instance.pop('name')
            category_id = instance.pop('category_id')
            samples.append(
                dict(
                    img_path=img_path,
                    img_id=img['id'],
                    height=int(img['height']),
                    width=int(img['width']),
                    text=part_phrase(name, obj_first=rng.random() < 0.5),
                    category_id=category_id,
                    no_target=False,
                    instances=[instance],
                )
            )
        return samples


@DATASETS.register_module()
class PacoLvisReferDataset(PartSegReferDataset):
    """PACO-LVIS (Ramanathan et al., CVPR 2023) as referring samples.

    Reads ``paco_lvis_v1_train.json`` (facebookresearch/paco), whose
    ``file_name`` is relative to the COCO 2017 folder (``train2017/...``).
    Category names are read as the release's ``init_paco_lvis`` does:
    ``"obj:part"`` or an object name alone, each name cut at ``"_("``
    (``"car_(automobile):wheel"`` -> ``("car", "wheel")``); other
    underscores are kept (``"trash_can"``). See
    :class:`PartSegReferDataset` for the samples.

    Args:
        ann_file (str): Defaults to the release's
            ``'vlpart/paco/annotations/paco_lvis_v1_train.json'``.
        data_prefix (dict): Defaults to the release's
            ``dict(img_path='coco/')``.
        **kwargs: See :class:`PartSegReferDataset`.
    """

    def __init__(
        self,
        ann_file: str = 'vlpart/paco/annotations/paco_lvis_v1_train.json',
        data_prefix: dict = dict(img_path='coco/'),
        **kwargs,
    ) -> None:
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def category_name(self, name: str) -> CategoryName:
        split = name.strip().split(':')
        if len(split) > 2:
            raise ValueError(f'name {name!r} has more than one ":"')
        split = [s.split('_(')[0] for s in split]
        return split[0] if len(split) == 1 else tuple(split)


@DATASETS.register_module()
class PascalPartReferDataset(PartSegReferDataset):
    """PASCAL-Part (Chen et al., CVPR 2014) as referring samples, in
    VLPart's COCO-format ``pascal_part/train.json`` over the VOC2010 images.

    Every category name is ``"obj:part"`` (the release's
    ``init_pascal_part``), kept as it is. See
    :class:`PartSegReferDataset` for the samples.

    Args:
        ann_file (str): Defaults to the release's
            ``'vlpart/pascal_part/train.json'``.
        data_prefix (dict): Defaults to the release's
            ``dict(img_path='vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/')``.
        **kwargs: See :class:`PartSegReferDataset`.
    """

    def __init__(
        self,
        ann_file: str = 'vlpart/pascal_part/train.json',
        data_prefix: dict = dict(
            img_path='vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/'
        ),
        **kwargs,
    ) -> None:
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def category_name(self, name: str) -> CategoryName:
        split = name.strip().split(':')
        if len(split) != 2:
            raise ValueError(f'name {name!r} is not "object:part"')
        return tuple(split)
