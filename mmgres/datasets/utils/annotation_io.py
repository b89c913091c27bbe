# Copyright (c) mmgres contributors. All rights reserved.
"""Reading the official referring annotation files, with clear errors.

- ``instances.json``: plain COCO, read into a pycocotools ``COCO`` object.
- refs files: a JSON list (gRefCOCO ``grefs(unc).json``) or a pickled list
  (``refs(unc).p``, ``refs(final).p``, ...), as the ``refer`` API writes.
  Pickles are read with a restricted unpickler that refuses every global
  outside :func:`mmgres.utils.safe_pickle.refs_globals`, so a crafted file
  cannot run code while a dataset loads.

Every error names the file it comes from.
"""

import contextlib
import gc
import io
import json
import os.path as osp
import pickle
from functools import partial
from typing import List, Optional

from mmengine.fileio import get_local_path
from pycocotools.coco import COCO

from mmgres.utils.safe_pickle import (
    ForbiddenGlobalError,
    refs_globals,
    restricted_load,
)

REQUIRED_REF_KEYS = ('ref_id', 'image_id', 'split', 'sentences')
REQUIRED_IMAGE_KEYS = ('id', 'file_name', 'height', 'width')


class ReferFormatError(ValueError):
    """An annotation file is not in the expected official format."""


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while annotation files are read
    and parsed.

    Reading them allocates millions of containers (none of them in a
    cycle), and every few thousand allocations the collector would
    traverse the whole heap: with torch and the models imported, that
    makes ``json.load`` of gRefCOCO's ``instances.json`` 1.7 times
    slower and the load of a refs pickle 5 times slower. Reference
    counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_local(path: str, backend_args: Optional[dict], reader):
    with get_local_path(path, backend_args=backend_args) as local_path:
        if not osp.isfile(local_path):
            raise FileNotFoundError(f'Annotation file not found: {path}')
        return reader(local_path)


def load_coco(ann_file: str, backend_args: Optional[dict] = None) -> COCO:
    """Load a COCO ``instances.json`` into a pycocotools ``COCO`` object.

    The file is checked before pycocotools indexes it: it must be a JSON
    object with ``images`` and ``annotations`` lists, every image having
    ``id, file_name, height, width`` and every annotation ``id, image_id``.

    Args:
        ann_file (str): Path of the COCO annotation file.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        COCO: The indexed annotations (``coco.imgs``, ``coco.anns``).

    Raises:
        FileNotFoundError: The file does not exist.
        ReferFormatError: The file is not a COCO instances file.
    """

    def reader(local_path):
        try:
            with open(local_path, encoding='utf-8') as f:
                return json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ReferFormatError(
                f'{ann_file} is not a valid JSON file: {e}'
            ) from e

    data = _read_local(ann_file, backend_args, reader)
    if not isinstance(data, dict):
        raise ReferFormatError(
            f'{ann_file} must be a COCO instances JSON object with '
            f'"images" and "annotations", got a {type(data).__name__}'
        )
    for key in ('images', 'annotations'):
        if not isinstance(data.get(key), list):
            raise ReferFormatError(
                f'{ann_file} has no "{key}" list; is it a COCO instances file?'
            )
    for img in data['images']:
        missing = [
            k
            for k in REQUIRED_IMAGE_KEYS
            if not isinstance(img, dict) or k not in img
        ]
        if missing:
            raise ReferFormatError(
                f'{ann_file}: image entry {_short(img)} lacks {missing}'
            )
    for ann in data['annotations']:
        if (
            not isinstance(ann, dict)
            or 'id' not in ann
            or 'image_id' not in ann
        ):
            raise ReferFormatError(
                f'{ann_file}: annotation entry {_short(ann)} lacks "id" or '
                '"image_id"'
            )
    data.setdefault('categories', [])
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_refs(
    refs_file: str, file_format: str, backend_args: Optional[dict] = None
) -> List[dict]:
    """Load a refs file: a list of ref dicts.

    Args:
        refs_file (str): Path of ``grefs(unc).json`` or ``refs(xxx).p``.
        file_format (str): ``'json'`` or ``'pickle'``.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        list[dict]: The refs, each checked to be a dict holding
        ``ref_id, image_id, split, sentences`` (``sentences`` a list).

    Raises:
        FileNotFoundError: The file does not exist.
        ReferFormatError: The file is not a list of refs.
    """
    if file_format not in ('json', 'pickle'):
        raise ValueError(f'unknown refs file format {file_format!r}')

    def reader(local_path):
        try:
            if file_format == 'json':
                with open(local_path, encoding='utf-8') as f:
                    return json.load(f)
            with open(local_path, 'rb') as f:
                load = partial(
                    restricted_load,
                    f,
                    refs_globals(),
                    source=refs_file,
                    what='refs file',
                )
                try:
                    return load()
                except UnicodeDecodeError:
                    # refs pickled by Python 2 with non-ASCII text
                    f.seek(0)
                    return load(encoding='latin1')
        except ForbiddenGlobalError as e:
            raise ReferFormatError(str(e)) from e
        except (
            json.JSONDecodeError,
            UnicodeDecodeError,
            pickle.UnpicklingError,
            EOFError,
            ValueError,
        ) as e:
            raise ReferFormatError(
                f'{refs_file} is not a valid {file_format} refs file: {e}'
            ) from e

    refs = _read_local(refs_file, backend_args, reader)
    if not isinstance(refs, list):
        raise ReferFormatError(
            f'{refs_file} must hold a list of refs, got a '
            f'{type(refs).__name__}'
        )
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            raise ReferFormatError(
                f'{refs_file}: entry {i} is a {type(ref).__name__}, not a '
                'ref dict'
            )
        missing = [k for k in REQUIRED_REF_KEYS if k not in ref]
        if missing:
            raise ReferFormatError(
                f'{refs_file}: ref_id={ref.get("ref_id", "?")} (entry {i}) '
                f'lacks the keys {missing}'
            )
        if not isinstance(ref['sentences'], list):
            raise ReferFormatError(
                f'{refs_file}: ref_id={ref["ref_id"]} has "sentences" of '
                f'type {type(ref["sentences"]).__name__}, expected a list'
            )
    return refs


def is_int(value) -> bool:
    """Whether ``value`` is an integer id (Python or numpy, not bool)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        hasattr(value, 'dtype') and value.dtype.kind in 'iu'
    )


def _short(obj, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + '...'
