# Copyright (c) mmgres contributors. All rights reserved.
"""RefCLEF (ReferItGame over SAIAPR TC-12) in the ``refer`` toolkit's format.

The files are those of the ``refer`` toolkit's ``refclef.zip``::

    refclef/instances.json     COCO-style images, annotations, categories
    refclef/refs(unc).p        UNC split: train, val, testA, testB, testC
    refclef/refs(berkeley).p   UC Berkeley split: train, val, test

with the images of the toolkit's ``saiapr_tc-12`` subset (its ``refer.py``
reads them from ``images/saiapr_tc-12/<file_name>``). Two things differ from
RefCOCO:

- A segmentation is a **list of RLE dicts** (the ``refer`` toolkit decodes
  it as a stack of masks and sums them, "multiple binary map
  (corresponding to multiple segs)"), not a list of polygons. The parts are
  merged into one RLE here, i.e. their union.
- ``split='testA'`` selects every ref whose split contains ``A``
  (``testA``, ``testAB``, ...), and ``split='test'`` every test ref, as the
  toolkit's ``getRefIds`` does ("we also consider testAB, testBC, ...").
"""

from itertools import combinations
from typing import List, Optional, Sequence, Tuple, Union

import pycocotools.mask as mask_utils

from mmgres.registry import DATASETS

from .refcoco import RefCOCODataset
from .refer_base import Report
from .utils.segmentation import segmentation_problem

SPLIT_BYS = ('unc', 'berkeley')
TEST_SUFFIXES = tuple(
    ''.join(c) for n in (1, 2, 3) for c in combinations('ABC', n)
)


def refer_split_names(split: Union[str, Sequence[str]]) -> List[str]:
    """The ``split`` values of the refs that ``refer``'s ``getRefIds``
    selects for ``split``.

    ``'testA'``/``'testB'``/``'testC'`` select the test splits whose
    name holds that letter, ``'test'`` all test splits; any other name
    selects itself.

    Example:
        >>> refer_split_names('testA')
        ['testA', 'testAB', 'testAC', 'testABC']
        >>> refer_split_names(['train', 'val'])
        ['train', 'val']
    """
    names = [split] if isinstance(split, str) else list(split)
    out: List[str] = []
    for name in names:
        if name in ('testA', 'testB', 'testC'):
            out += [f'test{s}' for s in TEST_SUFFIXES if name[-1] in s]
        elif name == 'test':
            out += ['test'] + [f'test{s}' for s in TEST_SUFFIXES]
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def merge_rle_parts(
    parts: list, height: int, width: int
) -> Tuple[Optional[dict], Optional[str]]:
    """Merge a list of RLE dicts into one compressed RLE (their union).

    Args:
        parts (list): The RLE dicts (compressed or uncompressed counts).
        height (int): Height of the image.
        width (int): Width of the image.

    Returns:
        tuple[dict | None, str | None]: ``(rle, None)`` with ``rle``
        ``{'size': [height, width], 'counts': str}``, or ``(None, problem)``
        naming the first part that is not a valid RLE of this image.
    """
    rles = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            return None, (
                f'part {i} is a {type(part).__name__}: a segmentation '
                'mixes RLE dicts and polygons'
            )
        problem = segmentation_problem(part, height, width)
        if problem is not None:
            return None, f'RLE part {i}: {problem}'
        if isinstance(part['counts'], list):
            rles.append(mask_utils.frPyObjects(part, height, width))
        else:
            rles.append(dict(size=[height, width], counts=part['counts']))
    merged = mask_utils.merge(rles)
    counts = merged['counts']
    if isinstance(counts, bytes):
        counts = counts.decode('ascii')
    return dict(size=[height, width], counts=counts), None


def _is_rle_list(segm) -> bool:
    return (
        isinstance(segm, list)
        and len(segm) > 0
        and any(isinstance(part, dict) for part in segm)
    )


@DATASETS.register_module()
class RefCLEFDataset(RefCOCODataset):
    """RefCLEF (ReferItGame): one target per expression, SAIAPR TC-12 images.

    The refs file is ``refs(unc).p`` (splits ``train``, ``val``, ``testA``,
    ``testB``, ``testC``) or ``refs(berkeley).p`` (``train``, ``val``,
    ``test``), each ref with a single ``ann_id``; see the module docstring
    for the segmentations and the test splits.

    Args:
        split_by (str, optional): ``'unc'`` or ``'berkeley'``. Defaults to
            ``'unc'``, the split GSVA and LISA train on.
        **kwargs: See :class:`BaseReferDataset`.

    Raises:
        ValueError: ``split_by`` is not ``'unc'`` or ``'berkeley'``.
    """

    DEFAULT_SPLIT_BY = 'unc'

    def __init__(self, split_by: Optional[str] = None, **kwargs) -> None:
        split_by = split_by or self.DEFAULT_SPLIT_BY
        if split_by not in SPLIT_BYS:
            raise ValueError(
                'RefCLEF has the refs files refs(unc).p and '
                f'refs(berkeley).p: split_by must be one of {SPLIT_BYS}, '
                f'got {split_by!r}'
            )
        super().__init__(split_by=split_by, **kwargs)

    def _parse_files(
        self, report: Optional[Report], fail: Report
    ) -> List[dict]:
        # select the refs as refer's getRefIds does (testA -> testAB, ...)
        requested = self.split
        self.split = refer_split_names(requested)
        try:
            return super()._parse_files(report, fail)
        finally:
            self.split = requested

    def _parse_instance(
        self, ann: dict, img: dict, fail: Report, count: bool = True
    ) -> Optional[dict]:
        segm = ann.get('segmentation')
        if _is_rle_list(segm):
            merged, problem = merge_rle_parts(
                segm, int(img['height']), int(img['width'])
            )
            if problem is not None:
                fail(
                    f'{self.ann_file}: ann_id={ann["id"]}: invalid '
                    f'segmentation: {problem}'
                )
                return None
            ann = dict(ann, segmentation=merged)
        return super()._parse_instance(ann, img, fail, count=count)
