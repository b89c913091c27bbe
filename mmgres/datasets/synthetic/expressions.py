# Copyright (c) mmgres contributors. All rights reserved.
"""The grammar of referring expressions and the computation of referents.

:func:`enumerate_expressions` lists every expression the grammar can say
about a scene, each with the set of objects it refers to, computed from the
scene. An expression is emitted only when it is TRUE and UNAMBIGUOUS:

* a singular expression refers to exactly one object; a plural or count
  expression to two or more (multi-target);
* no object that is *not referable* (mostly hidden, see
  :mod:`~mmgres.datasets.synthetic.scene`) matches its description;
* spatial words only compare positions at least ``margin * img_size``
  apart, so no object sits on a borderline.

Positions are the shapes' centres, sizes their nominal areas (a half hidden
big circle is still big). Semantics, with ``M(D)`` the objects matching a
description ``D`` (size, colour, shape, each optional):

======================  ====================================================
kind                    expression and referents
======================  ====================================================
attribute               "the D": ``|M(D)| = 1``
position                "the D on the left / at the top": if ``|M(D)| = 2``
                        the left / upper one of the two; if ``|M(D)| = 1``
                        the object when it lies in the left / upper
                        ``side`` part of the image
extreme                 "the leftmost / topmost ... D": ``|M(D)| >= 2``
superlative             "the biggest / smallest D" (D without size)
plural                  "the Ds", "all Ds", "all the Ds", "both Ds": M(D)
count                   "three Ds": ``|M(D)| = 3``
plural_position         "the Ds on the left": the members of M(D) in the
                        left ``side`` part (at least two; none in the middle)
relation                "the D left of / right of / above / below the A",
                        A naming one object; plural when several
between                 "the D between the two Cs": horizontally between
                        them, and vertically within two margins of the
                        band they span
conjunction             "the A and the B": two objects
neg_attribute           no-target: each attribute of D occurs in the scene,
                        but no object has them all ("the blue triangle"
                        with a blue circle and a red triangle)
neg_position            no-target: the only D lies on the other side
neg_relation            no-target: Ds and A exist, no D is left of A (or
                        between the Cs)
======================  ====================================================
"""

import itertools
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .scene import Scene, SceneObject
from .vocab import COLOURS, COUNT_WORDS, GENERIC_NOUNS, SHAPES, SIZES, plural

NO_TARGET_KINDS = ('neg_attribute', 'neg_position', 'neg_relation')


@dataclass(frozen=True)
class Description:
    """A conjunction of optional attributes, e.g. ``big red circle``."""

    size: Optional[str] = None
    colour: Optional[str] = None
    shape: Optional[str] = None

    @property
    def num_attributes(self) -> int:
        return sum(v is not None for v in (self.size, self.colour, self.shape))

    def matches(self, obj: SceneObject) -> bool:
        return (
            (self.size is None or obj.size == self.size)
            and (self.colour is None or obj.colour == self.colour)
            and (self.shape is None or obj.shape == self.shape)
        )

    def phrase(self, plural_form: bool = False, noun: str = 'shape') -> str:
        """Words in the order size, colour, noun; ``noun`` names a shapeless
        description (``'shape'`` or ``'object'``)."""
        head = self.shape or noun
        words = [self.size, self.colour, plural(head) if plural_form else head]
        return ' '.join(w for w in words if w)


@dataclass(frozen=True)
class Expression:
    """An expression and its referents.

    Args:
        text (str): Lower-case sentence, words separated by one space.
        referents (tuple[int]): Sorted indices into ``scene.objects``;
            empty for a no-target expression.
        kind (str): Grammar rule that produced it (table above).
    """

    text: str
    referents: Tuple[int, ...]
    kind: str

    @property
    def no_target(self) -> bool:
        return not self.referents


@dataclass
class GrammarConfig:
    """Thresholds of the spatial and size words.

    Args:
        margin (float): Two positions are compared only when at least this
            fraction of the image size apart.
        side (float): Alone, an object is "on the left" when its centre is
            in the left ``side`` fraction of the image; an object beyond
            ``1 - side`` is clearly on the other side (negatives).
        size_ratio (float): Superlatives need the extreme object's area to
            be this many times the runner-up's (or 1/ratio for smallest).
        object_noun_prob (float): Chance that a shapeless description says
            "object" instead of "shape" (needs an ``rng``).
        plural_negative_prob (float): Chance that an attribute negative is
            phrased in the plural ("the green squares").
    """

    margin: float = 0.08
    side: float = 0.4
    size_ratio: float = 1.4
    object_noun_prob: float = 0.3
    plural_negative_prob: float = 0.3


def _all_descriptions() -> List[Description]:
    return [
        Description(s, c, sh)
        for s in (None, *SIZES)
        for c in (None, *COLOURS)
        for sh in (None, *SHAPES)
    ]


ALL_DESCRIPTIONS: List[Description] = _all_descriptions()
# Target descriptions of relations: at most two attributes, keeps it short.
RELATION_DESCRIPTIONS: List[Description] = [
    d
    for d in ALL_DESCRIPTIONS
    if d.num_attributes <= 1 or (d.shape is not None and d.num_attributes == 2)
]
# How an object is named as an anchor: the first of these that is unique.
_ANCHOR_FIELDS = (
    ('colour', 'shape'),
    ('shape',),
    ('colour',),
    ('size', 'shape'),
    ('size', 'colour'),
    ('size', 'colour', 'shape'),
)
# (word, axis, sign): "on the left" picks the smaller x, "at the top" the
# smaller y (image rows grow downwards).
_SIDES = (
    ('on the left', 0, -1),
    ('on the right', 0, 1),
    ('at the top', 1, -1),
    ('at the bottom', 1, 1),
)
_EXTREMES = (
    ('leftmost', 0, -1),
    ('rightmost', 0, 1),
    ('topmost', 1, -1),
    ('bottommost', 1, 1),
)
_RELATIONS = (
    ('left of', 0, -1),
    ('right of', 0, 1),
    ('above', 1, -1),
    ('below', 1, 1),
)


class _Builder:
    """Collects expressions of one scene; see :func:`enumerate_expressions`."""

    def __init__(
        self,
        scene: Scene,
        rng: Optional[np.random.Generator],
        cfg: GrammarConfig,
    ) -> None:
        self.objs = scene.objects
        self.rng, self.cfg = rng, cfg
        self.size = (scene.width, scene.height)
        self.margin = (cfg.margin * scene.width, cfg.margin * scene.height)
        self.match: Dict[Description, Tuple[int, ...]] = {
            d: tuple(i for i, o in enumerate(self.objs) if d.matches(o))
            for d in ALL_DESCRIPTIONS
        }
        self.referable = {i for i, o in enumerate(self.objs) if o.referable}
        self.out: Dict[str, Expression] = {}
        self.anchors: Dict[int, Description] = {}
        for i in sorted(self.referable):
            obj = self.objs[i]
            for fields in _ANCHOR_FIELDS:
                d = Description(**{f: getattr(obj, f) for f in fields})
                if self.match[d] == (i,):
                    self.anchors[i] = d
                    break

    # helpers ---------------------------------------------------------------
    def pos(self, i: int, axis: int) -> float:
        return self.objs[i].cx if axis == 0 else self.objs[i].cy

    def clean(self, idx: Sequence[int]) -> bool:
        return all(i in self.referable for i in idx)

    def noun(self) -> str:
        if (
            self.rng is not None
            and self.rng.random() < self.cfg.object_noun_prob
        ):
            return GENERIC_NOUNS[1]
        return GENERIC_NOUNS[0]

    def pick(self, options: Sequence[str]) -> str:
        if self.rng is None:
            return options[0]
        return options[int(self.rng.integers(len(options)))]

    def add(self, text: str, idx: Sequence[int], kind: str) -> None:
        refs = tuple(sorted(idx))
        old = self.out.get(text)
        if old is not None and old.referents != refs:
            raise RuntimeError(
                f'grammar bug: {text!r} refers to both '
                f'{old.referents} and {refs}'
            )
        if old is None:
            self.out[text] = Expression(text, refs, kind)

    def side_of(self, i: int, axis: int) -> int:
        """-1 left/top part, +1 right/bottom part, 0 middle band."""
        rel = self.pos(i, axis) / self.size[axis]
        return (
            -1
            if rel < self.cfg.side
            else (1 if rel > 1 - self.cfg.side else 0)
        )

    # rules -----------------------------------------------------------------
    def descriptions(self) -> None:
        for d in ALL_DESCRIPTIONS:
            idx = self.match[d]
            if idx and self.clean(idx):
                self.positive(d, idx)
            elif not idx and d.num_attributes >= 2:
                self.neg_attribute(d)
            if len(idx) == 1 and idx[0] in self.referable:
                self.neg_position(d, idx[0])

    def positive(self, d: Description, idx: Tuple[int, ...]) -> None:
        noun = self.noun()
        one, many = d.phrase(False, noun), d.phrase(True, noun)
        n = len(idx)
        if n == 1:
            if d.num_attributes:
                self.add(f'the {one}', idx, 'attribute')
            for word, axis, sign in _SIDES:
                if self.side_of(idx[0], axis) == sign:
                    self.add(f'the {one} {word}', idx, 'position')
            return
        forms = [f'the {many}', f'all {many}', f'all the {many}']
        if n == 2:
            forms.append(f'both {many}')
        self.add(self.pick(forms), idx, 'plural')
        if n in COUNT_WORDS:
            self.add(f'{COUNT_WORDS[n]} {many}', idx, 'count')
        for axis in (0, 1):
            order = sorted(idx, key=lambda i: self.pos(i, axis))
            gaps = [
                self.pos(b, axis) - self.pos(a, axis)
                for a, b in zip(order, order[1:])
            ]
            first_ok, last_ok = (
                gaps[0] >= self.margin[axis],
                gaps[-1] >= self.margin[axis],
            )
            for word, ax, sign in _EXTREMES:
                if ax == axis and (first_ok if sign < 0 else last_ok):
                    target = order[0] if sign < 0 else order[-1]
                    self.add(f'the {word} {one}', (target,), 'extreme')
            if n == 2:
                for word, ax, sign in _SIDES:
                    if ax == axis and first_ok:
                        target = order[0] if sign < 0 else order[-1]
                        self.add(f'the {one} {word}', (target,), 'position')
            sides = {i: self.side_of(i, axis) for i in idx}
            if all(sides.values()):
                for word, ax, sign in _SIDES:
                    part = [i for i in idx if sides[i] == sign]
                    if ax == axis and len(part) >= 2:
                        self.add(f'the {many} {word}', part, 'plural_position')
        if d.size is None:
            order = sorted(idx, key=lambda i: self.objs[i].nominal_area)
            area = [self.objs[i].nominal_area for i in order]
            if area[-1] >= self.cfg.size_ratio * area[-2]:
                self.add(f'the biggest {one}', (order[-1],), 'superlative')
            if area[1] >= self.cfg.size_ratio * area[0]:
                self.add(f'the smallest {one}', (order[0],), 'superlative')

    def neg_attribute(self, d: Description) -> None:
        present = [self.objs[i] for i in self.referable]
        for attr in ('size', 'colour', 'shape'):
            value = getattr(d, attr)
            if value is not None and all(
                getattr(o, attr) != value for o in present
            ):
                return
        noun = self.noun()
        plural_form = (
            self.rng is not None
            and self.rng.random() < self.cfg.plural_negative_prob
        )
        self.add(f'the {d.phrase(plural_form, noun)}', (), 'neg_attribute')

    def neg_position(self, d: Description, i: int) -> None:
        one = d.phrase(False, self.noun())
        for word, axis, sign in _SIDES:
            if self.side_of(i, axis) == -sign:
                self.add(f'the {one} {word}', (), 'neg_position')

    def relations(self) -> None:
        for a, anchor in self.anchors.items():
            a_name = anchor.phrase()
            for d in RELATION_DESCRIPTIONS:
                cand = [i for i in self.match[d] if i != a]
                if not cand or not self.clean(cand):
                    continue
                noun = self.noun()
                for word, axis, sign in _RELATIONS:
                    delta = [
                        (self.pos(i, axis) - self.pos(a, axis)) * sign
                        for i in cand
                    ]
                    if min(abs(v) for v in delta) < self.margin[axis]:
                        continue
                    hit = [i for i, v in zip(cand, delta) if v > 0]
                    self._emit(
                        d, noun, f'{word} the {a_name}', hit, 'relation'
                    )

    def between(self) -> None:
        mx, my = self.margin
        for c in RELATION_DESCRIPTIONS:
            pair = self.match[c]
            if len(pair) != 2 or not self.clean(pair):
                continue
            lo, hi = sorted(self.pos(i, 0) for i in pair)
            if hi - lo < 2 * mx:
                continue
            # the band the pair spans vertically, widened by two margins
            top, bottom = sorted(self.pos(i, 1) for i in pair)
            top, bottom = top - 2 * my, bottom + 2 * my
            tail = f'between the two {c.phrase(True, self.noun())}'
            for d in RELATION_DESCRIPTIONS:
                cand = [i for i in self.match[d] if i not in pair]
                if not cand or not self.clean(cand):
                    continue
                inside, ambiguous = [], False
                for i in cand:
                    x, y = self.pos(i, 0), self.pos(i, 1)
                    if lo + mx <= x <= hi - mx and top <= y <= bottom:
                        inside.append(i)
                    elif not (
                        x <= lo - mx
                        or x >= hi + mx
                        or y < top - my
                        or y > bottom + my
                    ):
                        ambiguous = True
                        break
                if not ambiguous:
                    self._emit(d, self.noun(), tail, inside, 'between')

    def _emit(
        self, d: Description, noun: str, tail: str, hit: List[int], kind: str
    ) -> None:
        if not hit:
            self.add(f'the {d.phrase(False, noun)} {tail}', (), 'neg_relation')
        else:
            self.add(f'the {d.phrase(len(hit) > 1, noun)} {tail}', hit, kind)

    def conjunctions(self) -> None:
        for i, j in itertools.combinations(sorted(self.anchors), 2):
            first, second = (i, j)
            if self.rng is not None and self.rng.random() < 0.5:
                first, second = j, i
            self.add(
                f'the {self.anchors[first].phrase()} and the '
                f'{self.anchors[second].phrase()}',
                (i, j),
                'conjunction',
            )


def enumerate_expressions(
    scene: Scene,
    rng: Optional[np.random.Generator] = None,
    cfg: Optional[GrammarConfig] = None,
) -> List[Expression]:
    """Every true, unambiguous expression about ``scene``.

    Args:
        scene (Scene): A scene whose objects' ``referable`` flags are set
            (:func:`~mmgres.datasets.synthetic.scene.compute_masks`).
        rng (np.random.Generator, optional): Picks among synonymous
            wordings ("shape"/"object", "the"/"all"/"all the"). Without it
            the first wording is always used, which tests rely on.
        cfg (GrammarConfig, optional): Thresholds.

    Returns:
        list[Expression]: Unique texts, in a deterministic order.

    Example:
        A small red circle at x=20 and a big red circle at x=100 (no other
        red object) give, among others, ``"the red circle on the left"`` ->
        the first, ``"the biggest red circle"`` -> the second, ``"the red
        circles"`` and ``"two red circles"`` -> both.
    """
    builder = _Builder(scene, rng, cfg or GrammarConfig())
    builder.descriptions()
    builder.relations()
    builder.between()
    builder.conjunctions()
    return list(builder.out.values())
