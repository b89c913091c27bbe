# Copyright (c) mmgres contributors. All rights reserved.
"""The attributes of the synthetic scenes and every word the grammar uses.

The vocabulary is deliberately small (44 words) so that tiny configs
can build an in-memory WordPiece tokenizer from it::

    from mmgres.datasets.synthetic import SYNTHETIC_VOCAB
    from mmgres.models.language_models import build_wordpiece_tokenizer
    tokenizer = build_wordpiece_tokenizer(SYNTHETIC_VOCAB)

Every token of every generated sentence is in :data:`SYNTHETIC_VOCAB`
(a test checks this on generated data).
"""

from typing import Dict, List, Tuple

#: Shapes, in the order of their COCO category ids (1, 2, ...).
SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'diamond')

#: Colour names and their base RGB values. The values are saturated and
#: far apart, so that a colour survives JPEG compression, noise and jitter.
COLOURS: Dict[str, Tuple[int, int, int]] = {
    'red': (220, 40, 40),
    'green': (40, 170, 60),
    'blue': (40, 80, 220),
    'yellow': (235, 210, 30),
    'purple': (150, 50, 200),
}

#: Size classes. An object's radius is drawn from a size-specific range
#: (see :class:`~mmgres.datasets.synthetic.scene.SceneConfig`).
SIZES: Tuple[str, ...] = ('small', 'big')

#: Nouns that name any object.
GENERIC_NOUNS: Tuple[str, ...] = ('shape', 'object')

#: Number words used by count expressions ("two blue squares").
COUNT_WORDS: Dict[int, str] = {
    2: 'two',
    3: 'three',
    4: 'four',
    5: 'five',
    6: 'six',
}

#: Words of the templates (articles, relations, quantifiers).
FUNCTION_WORDS: Tuple[str, ...] = (
    'the',
    'all',
    'both',
    'and',
    'on',
    'at',
    'of',
    'left',
    'right',
    'top',
    'bottom',
    'leftmost',
    'rightmost',
    'topmost',
    'bottommost',
    'biggest',
    'smallest',
    'above',
    'below',
    'between',
)


def plural(noun: str) -> str:
    """Plural of a shape or generic noun (all of them take an ``s``)."""
    return noun + 's'


def _build_vocab() -> List[str]:
    words: List[str] = list(FUNCTION_WORDS)
    words += list(SIZES) + list(COLOURS)
    for noun in SHAPES + GENERIC_NOUNS:
        words += [noun, plural(noun)]
    words += list(COUNT_WORDS.values())
    return list(dict.fromkeys(words))


#: Every word the grammar can produce, lower case, without duplicates.
SYNTHETIC_VOCAB: List[str] = _build_vocab()
