# Copyright (c) mmgres contributors. All rights reserved.
"""A flip that keeps spatial words in the expression true."""

import re
from typing import Dict, Sequence, Tuple

from mmcv.transforms import TestTimeAug
from mmdet.datasets.transforms import RandomFlip as MMDetRandomFlip

from mmgres.registry import TRANSFORMS

HORIZONTAL_PAIRS: Tuple[Tuple[str, str], ...] = (
    ('left', 'right'),
    ('leftmost', 'rightmost'),
)
VERTICAL_PAIRS: Tuple[Tuple[str, str], ...] = (
    ('top', 'bottom'),
    ('topmost', 'bottommost'),
    ('upper', 'lower'),
    ('above', 'below'),
)


def _match_case(word: str, template: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def swap_words(text: str, pairs: Sequence[Tuple[str, str]]) -> str:
    """Swap each word of ``pairs`` with its partner, as whole words.

    Matching ignores case and the replacement keeps the original's case
    (``Left`` → ``Right``, ``LEFT`` → ``RIGHT``). Only whole words are
    swapped: ``bright`` and ``leftover`` stay as they are, while the
    ``left`` of ``left-hand`` is swapped. All words are swapped at once,
    so ``left and right`` becomes ``right and left``.

    Example:
        >>> swap_words('the man on the left', HORIZONTAL_PAIRS)
        'the man on the right'
        >>> swap_words('Bright LEFTMOST cup', HORIZONTAL_PAIRS)
        'Bright RIGHTMOST cup'
    """
    table: Dict[str, str] = {}
    for a, b in pairs:
        table[a.lower()] = b.lower()
        table[b.lower()] = a.lower()
    if not table:
        return text
    words = sorted(table, key=len, reverse=True)
    pattern = re.compile(
        r'\b(' + '|'.join(map(re.escape, words)) + r')\b', re.IGNORECASE
    )
    return pattern.sub(
        lambda m: _match_case(table[m.group(0).lower()], m.group(0)), text
    )


@TRANSFORMS.register_module()
class RandomFlip(MMDetRandomFlip):
    """mmdet's ``RandomFlip`` that also flips the words of the expression.

    The image, boxes, masks and ``gt_seg_map`` are flipped by mmdet's code.
    After a horizontal flip, ``left``/``right`` and ``leftmost``/
    ``rightmost`` are swapped in ``results['text']``; after a vertical flip,
    ``top``/``bottom``, ``topmost``/``bottommost``, ``upper``/``lower`` and
    ``above``/``below``; after a diagonal flip, both. Registered as
    ``RandomFlip`` in scope ``mmgres``, so it replaces mmdet's there. The
    word pairs are :data:`HORIZONTAL_PAIRS` and :data:`VERTICAL_PAIRS`;
    the arguments (``prob``, ``direction``) are mmdet's.
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        direction = results['flip_direction']
        pairs = ()
        if direction in ('horizontal', 'diagonal'):
            pairs += HORIZONTAL_PAIRS
        if direction in ('vertical', 'diagonal'):
            pairs += VERTICAL_PAIRS
        if pairs and isinstance(results.get('text'), str):
            results['text'] = swap_words(results['text'], pairs)


@TRANSFORMS.register_module()
class FlipTestTimeAug(TestTimeAug):
    """Flip test-time augmentation of a referring sample (``tools/test.py
    --tta``): two views, as is and mirrored left-right by :class:`RandomFlip`
    (which also swaps "left" and "right" in the expression), each packed.

    A dataset config ends its ``tta_pipeline`` with it, in place of the
    test pipeline's packing::

        tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]

    and :class:`GroundingTTAModel` (the runtime's ``tta_model``) merges the
    views.

    Args:
        pack (dict): The packing transform. Defaults to
            ``PackReferringInputs``.
    """

    def __init__(self, pack: dict = dict(type='PackReferringInputs')) -> None:
        super().__init__(
            transforms=[
                [
                    dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                    dict(type='RandomFlip', prob=1.0, direction='horizontal'),
                ],
                [pack],
            ]
        )
