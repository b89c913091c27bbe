# Copyright (c) mmgres contributors. All rights reserved.
"""Choosing which expressions of a scene become refs and sentences.

gRefCOCO has about 29% multi-target and 12% no-target sentences
(80,022 and 32,202 of 278,232). :class:`MixBalancer` keeps a running count
per category over a whole split and always serves the category furthest
below its target share, so every split lands within a sentence or two of
the target mix even when some scenes offer no multi-target expression.

A ref groups the sentences that share a referent set, as in gRefCOCO; a
no-target ref groups one or two no-target sentences (``ann_id == [-1]``).
"""

import math
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .expressions import Expression

CATEGORIES = ('single', 'multi', 'none')


def category_of(referents: Sequence[int]) -> str:
    """``'none'``, ``'single'`` or ``'multi'`` for a referent set."""
    return (
        'none'
        if not referents
        else ('single' if len(referents) == 1 else 'multi')
    )


class MixBalancer:
    """Serves categories in the target proportions.

    Args:
        multi (float): Target share of multi-target sentences.
        none (float): Target share of no-target sentences. The rest is
            single-target.

    Example:
        >>> bal = MixBalancer(multi=0.3, none=0.1)
        >>> rng = np.random.default_rng(0)
        >>> picks = []
        >>> for _ in range(10):
        ...     c = bal.choose(CATEGORIES, rng)
        ...     bal.add(c)
        ...     picks.append(c)
        >>> picks.count('single'), picks.count('multi'), picks.count('none')
        (6, 3, 1)
    """

    def __init__(self, multi: float = 0.30, none: float = 0.12) -> None:
        if multi < 0 or none < 0 or multi + none > 1:
            raise ValueError(f'invalid target mix multi={multi}, none={none}')
        self.target = dict(single=1 - multi - none, multi=multi, none=none)
        self.counts = dict.fromkeys(CATEGORIES, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def choose(
        self, available: Sequence[str], rng: np.random.Generator
    ) -> str:
        """The available category with the largest deficit (ties: random)."""
        if not available:
            raise ValueError('no category available')
        nxt = self.total + 1
        deficit = {c: self.target[c] * nxt - self.counts[c] for c in available}
        best = max(deficit.values())
        tied = [
            c
            for c in CATEGORIES
            if c in deficit and math.isclose(deficit[c], best, abs_tol=1e-9)
        ]
        return tied[int(rng.integers(len(tied)))]

    def add(self, category: str, num: int = 1) -> None:
        self.counts[category] += num


@dataclass
class RefDraft:
    """A ref before ids are assigned: its referents and sentences."""

    referents: Tuple[int, ...]
    expressions: List[Expression] = field(default_factory=list)


#: Relative frequency of the grammar rules when a ref's sentences are
#: drawn. Plain attribute expressions are favoured, so that tiny models
#: learn colours and shapes first; every rule still appears.
KIND_WEIGHTS: Dict[str, float] = dict(
    attribute=3.0,
    plural=2.0,
    count=1.0,
    position=1.5,
    extreme=1.0,
    superlative=1.0,
    plural_position=1.0,
    relation=1.0,
    between=0.7,
    conjunction=1.0,
    neg_attribute=2.0,
    neg_position=1.0,
    neg_relation=1.0,
)


def _pick_expressions(
    pool: List[Expression], num: int, rng: np.random.Generator
) -> List[Expression]:
    """Up to ``num`` expressions, of different rules when possible. The rule
    is drawn first (by :data:`KIND_WEIGHTS`), then a wording of it, so rules
    with many wordings (attributes) do not drown the others."""
    chosen: List[Expression] = []
    left = list(pool)
    while left and len(chosen) < num:
        kinds = sorted({e.kind for e in left})
        fresh = [k for k in kinds if k not in {e.kind for e in chosen}]
        kinds = fresh or kinds
        weights = np.array([KIND_WEIGHTS.get(k, 1.0) for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        of_kind = [e for e in left if e.kind == kind]
        expr = of_kind[int(rng.integers(len(of_kind)))]
        chosen.append(expr)
        left.remove(expr)
    return chosen


def select_refs(
    expressions: Sequence[Expression],
    rng: np.random.Generator,
    balancer: MixBalancer,
    num_sentences: int,
    two_sentence_prob: float = 0.4,
) -> List[RefDraft]:
    """Choose refs and their sentences for one image.

    Args:
        expressions (Sequence[Expression]): All candidates of the scene.
        rng (np.random.Generator): Random source.
        balancer (MixBalancer): Running mix of the split; updated.
        num_sentences (int): Sentences wanted for this image (fewer when
            the scene offers fewer).
        two_sentence_prob (float): Chance that a ref gets two sentences.

    Returns:
        list[RefDraft]: Refs with distinct referent sets (no-target refs
        excepted), in the order chosen.
    """
    groups: Dict[Tuple[int, ...], List[Expression]] = {}
    for e in expressions:
        groups.setdefault(e.referents, []).append(e)
    negatives = groups.pop((), [])
    unused = {c: [] for c in CATEGORIES}
    for key in groups:
        unused[category_of(key)].append(key)
    refs: List[RefDraft] = []
    made = 0
    while made < num_sentences:
        available = [
            c for c in CATEGORIES if (negatives if c == 'none' else unused[c])
        ]
        if not available:
            break
        cat = balancer.choose(available, rng)
        if cat == 'none':
            key, pool = (), negatives
        else:
            keys = unused[cat]
            key = keys.pop(int(rng.integers(len(keys))))
            pool = groups[key]
        want = (
            2
            if (num_sentences - made >= 2 and rng.random() < two_sentence_prob)
            else 1
        )
        chosen = _pick_expressions(pool, want, rng)
        if cat == 'none':
            for e in chosen:
                negatives.remove(e)
        refs.append(RefDraft(key, chosen))
        balancer.add(cat, len(chosen))
        made += len(chosen)
    return refs
