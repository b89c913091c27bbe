# Copyright (c) mmgres contributors. All rights reserved.
"""Scan a referring dataset up front and list every problem."""

import copy
import sys
from typing import Dict, List, Optional, Tuple, Union

import mmcv
from mmengine.config import Config, ConfigDict
from mmengine.fileio import exists, get
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar

from mmgres.registry import DATASETS

WRAPPERS_WITH_LIST = ('ConcatDataset',)
WRAPPERS_WITH_ONE = (
    'RepeatDataset',
    'ClassBalancedDataset',
    'MultiImageMixDataset',
)


def _flatten(cfg: dict) -> List[dict]:
    """The referring dataset configs inside dataset wrappers."""
    kind = str(cfg.get('type', ''))
    kind = kind.split('.')[-1]
    if kind in WRAPPERS_WITH_LIST:
        return [c for sub in cfg['datasets'] for c in _flatten(sub)]
    if kind in WRAPPERS_WITH_ONE:
        return _flatten(cfg['dataset'])
    return [cfg]


def _image_problem(
    path: str,
    height: Optional[int],
    width: Optional[int],
    decode: bool,
    backend_args,
) -> Union[str, None]:
    try:
        if not decode:
            return (
                None
                if exists(path, backend_args=backend_args)
                else f'image not found: {path}'
            )
        img_bytes = get(path, backend_args=backend_args)
    except FileNotFoundError:
        return f'image not found: {path}'
    except Exception as e:  # unreadable file, permission...
        return f'cannot read image {path}: {type(e).__name__}: {e}'
    try:
        img = mmcv.imfrombytes(img_bytes, flag='unchanged')
    except Exception as e:
        return f'cannot decode image {path}: {type(e).__name__}: {e}'
    if img is None:
        return f'cannot decode image {path}'
    if height is None or width is None:  # the annotation has no size
        return None
    if tuple(img.shape[:2]) != (height, width):
        return (
            f'image {path} is {img.shape[0]}x{img.shape[1]} (h x w) but '
            f'the annotation file says {height}x{width}'
        )
    return None


def find_dataset_problems(
    dataset_cfg: Union[dict, Config, ConfigDict],
    check_images: bool = True,
    decode_images: bool = True,
    progress: bool = False,
) -> List[str]:
    """List every problem of a referring dataset instead of failing later.

    The dataset is built lazily (nothing is loaded at construction) and its
    annotation files are scanned with
    :meth:`~mmgres.datasets.BaseReferDataset.scan`: format errors, refs
    pointing at missing images or annotations, empty expressions, invalid
    segmentations. Then every image used is checked once: it exists, it
    decodes, and its size matches the annotation's (when the annotation
    gives one).

    Inside a dataset wrapper, datasets that cannot be scanned (no
    ``scan`` method, e.g. mmdet's ``CocoDataset``) are skipped with a
    warning; a config with no scannable dataset raises ``TypeError``.

    Args:
        dataset_cfg (dict | Config): A dataset config, e.g.
            ``cfg.val_dataloader.dataset``. Dataset wrappers
            (``ConcatDataset``, ``RepeatDataset``...) are looked through.
        check_images (bool): Check the image files. Defaults to True.
        decode_images (bool): Decode each image (slower; otherwise only
            check that it exists). Defaults to True.
        progress (bool): Count the images checked in a progress bar on
            stderr, when stderr is a terminal (in a log its redraws would
            pile up). Defaults to False.

    Returns:
        list[str]: One message per problem; empty when the data is clean.
    """
    problems: List[str] = []
    skipped: List[str] = []
    cfgs = _flatten(copy.deepcopy(dict(dataset_cfg)))
    for cfg in cfgs:
        cfg = dict(cfg)
        cfg['lazy_init'] = True
        cfg['pipeline'] = []
        with DefaultScope.overwrite_default_scope('mmgres'):
            kind = cfg.get('type')
            cls = kind if isinstance(kind, type) else DATASETS.get(kind)
            if cls is not None and not hasattr(cls, 'scan'):
                skipped.append(cls.__name__)
                continue
            dataset = DATASETS.build(cfg)
        samples, found = dataset.scan()
        problems.extend(found)
        if not check_images:
            continue
        images: Dict[str, Tuple[Optional[int], Optional[int], object]] = {}
        for sample in samples:
            images.setdefault(
                sample['img_path'],
                (
                    sample.get('height'),
                    sample.get('width'),
                    sample.get('img_id'),
                ),
            )
        bar = None
        if progress and images and sys.stderr.isatty():
            bar = ProgressBar(len(images), file=sys.stderr)
        for path, (height, width, img_id) in images.items():
            problem = _image_problem(
                path,
                height,
                width,
                decode_images,
                getattr(dataset, 'backend_args', None),
            )
            if problem is not None:
                problems.append(f'{problem} (img_id={img_id})')
            if bar is not None:
                bar.update()
        if bar is not None:
            sys.stderr.write('\n')
    if skipped and len(skipped) == len(cfgs):
        raise TypeError(
            f'{", ".join(skipped)} is not a referring dataset '
            '(mmgres.datasets.BaseReferDataset) and has no scan()'
        )
    if skipped:
        MMLogger.get_current_instance().warning(
            f'not checked (no scan()): {", ".join(skipped)}'
        )
    return problems
