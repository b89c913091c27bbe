# Copyright (c) mmgres contributors. All rights reserved.
"""The attributes of the synthetic scenes and every word the grammar uses.

The vocabulary is deliberately small (44 words) so that tiny configs
can build an in-memory tokenizer from it. Two are registered in
``TOKENIZER``, and named by ``configs/_base_/datasets/synthetic_grefcoco.py``
(``synthetic_wordpiece``, ``synthetic_word_level``)::

    from mmgres.registry import TOKENIZER
    tokenizer = TOKENIZER.build(dict(type='SyntheticWordPieceTokenizer'))

Every token of every generated sentence is in :data:`SYNTHETIC_VOCAB`
(a test checks this on generated data).
"""

from typing import Dict, List, Tuple

from mmgres.registry import TOKENIZER

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


# The tokenizers are built through the registry by type name, so that this
# data package names its vocabulary without importing model code.
@TOKENIZER.register_module('SyntheticWordPieceTokenizer')
def synthetic_wordpiece_tokenizer(**kwargs):
    """A BERT-style WordPiece tokenizer over :data:`SYNTHETIC_VOCAB`, for
    tiny BERT and BEiT-3 text encoders.

    Registered in ``TOKENIZER`` as ``'SyntheticWordPieceTokenizer'``: the
    ``'WordPieceTokenizer'`` with ``vocab=SYNTHETIC_VOCAB``; ``[PAD] [UNK]
    [CLS] [SEP] [MASK]`` are ids 0-4 and the words follow in order (49
    tokens).

    Args:
        **kwargs: Other arguments of ``'WordPieceTokenizer'``
            (``lowercase``).
    """
    return TOKENIZER.build(
        dict(type='WordPieceTokenizer', vocab=list(SYNTHETIC_VOCAB), **kwargs)
    )


@TOKENIZER.register_module('SyntheticWordLevelTokenizer')
def synthetic_word_level_tokenizer(**kwargs):
    """A Llama-style word-level tokenizer over :data:`SYNTHETIC_VOCAB`, for
    tiny LLaVA models.

    Registered in ``TOKENIZER`` as ``'SyntheticWordLevelTokenizer'``: the
    ``'WordLevelTokenizer'`` with ``words=SYNTHETIC_VOCAB``; ``<unk> <s>
    </s>`` are ids 0-2 and the words follow in order (47 tokens).

    Args:
        **kwargs: Other arguments of ``'WordLevelTokenizer'``
            (``specials``, ``model_max_length``).
    """
    return TOKENIZER.build(
        dict(type='WordLevelTokenizer', words=list(SYNTHETIC_VOCAB), **kwargs)
    )
