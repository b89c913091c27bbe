# Copyright (c) mmgres contributors. All rights reserved.
"""The grammar of the synthetic benchmark: hand-built scenes with the
referents worked out by hand, an independent parser of the attribute
expressions over random scenes, and the sentence-mix sampler."""

import numpy as np
import pytest

from mmgres.datasets.synthetic import (
    COLOURS,
    SHAPES,
    SIZES,
    SYNTHETIC_VOCAB,
    Expression,
    MixBalancer,
    Scene,
    SceneConfig,
    SceneObject,
    compute_masks,
    enumerate_expressions,
    sample_scene,
    select_refs,
)


def _scene(*objects, size=128):
    scene = Scene(size, size, [SceneObject(*o) for o in objects])
    compute_masks(scene)
    return scene


def _texts(scene, rng=None):
    return {e.text: e.referents for e in enumerate_expressions(scene, rng)}


@pytest.fixture(scope='module')
def scene_a():
    # 128 px: margin 10.24 px, "left part" x < 51.2, "right part" x > 76.8
    return _scene(
        ('circle', 'red', 'small', 20, 30, 7.0),
        ('circle', 'red', 'big', 100, 30, 16.0),
        ('square', 'blue', 'small', 60, 100, 7.0),
    )


@pytest.mark.parametrize(
    'text,referents',
    [
        # attributes
        ('the blue square', (2,)),
        ('the square', (2,)),
        ('the blue shape', (2,)),
        ('the big shape', (1,)),
        ('the small circle', (0,)),
        # positions: two red circles -> relative; one square -> absolute
        ('the red circle on the left', (0,)),
        ('the red circle on the right', (1,)),
        ('the blue square at the bottom', (2,)),
        ('the leftmost shape', (0,)),
        ('the bottommost shape', (2,)),
        # superlatives compare areas (r 7 vs 16)
        ('the biggest red circle', (1,)),
        ('the smallest circle', (0,)),
        # plurals and counts
        ('the red circles', (0, 1)),
        ('two red circles', (0, 1)),
        ('the small shapes', (0, 2)),
        ('three shapes', (0, 1, 2)),
        ('the shapes at the top', (0, 1)),
        # relations; anchors are named by their shortest unique description
        ('the square below the small circle', (2,)),
        ('the square left of the big circle', (2,)),
        ('the circles above the blue square', (0, 1)),
        ('the small circle and the blue square', (0, 2)),
        # hard negatives: attributes present, never together
        ('the blue circle', ()),
        ('the red square', ()),
        ('the big blue square', ()),
        ('the blue square at the top', ()),
        ('the big circle on the left', ()),
        ('the small circle on the right', ()),
        ('the circle below the blue square', ()),
    ],
)
def test_hand_built_scene_referents(scene_a, text, referents):
    texts = _texts(scene_a)
    assert text in texts, sorted(texts)
    assert texts[text] == referents


@pytest.mark.parametrize(
    'text',
    [
        'the red circle',  # two red circles: not unique
        'the circle',
        'the topmost shape',  # both circles at y = 30
        'the shapes on the left',  # the square sits in the middle band
        'the blue square on the left',  # idem, so not a negative either
        'the green circle',  # green is absent: not a HARD negative
        'the big triangle',  # no triangle at all
    ],
)
def test_hand_built_scene_rejects(scene_a, text):
    assert text not in _texts(scene_a)


def test_between():
    scene = _scene(
        ('circle', 'green', 'big', 20, 64, 8.0),
        ('circle', 'green', 'big', 108, 64, 8.0),
        ('square', 'yellow', 'small', 64, 60, 7.0),
        ('square', 'yellow', 'small', 64, 120, 7.0),
        ('triangle', 'red', 'small', 64, 16, 6.0),
    )
    texts = _texts(scene)
    # the squares and the triangle all lie horizontally between the
    # circles, but only square 2 lies in the band the circles span
    # (y = 64 +- 2 margins); square 3 (y = 120) and the triangle (y = 16)
    # are clearly outside it
    assert texts['the square between the two green circles'] == (2,)
    assert texts['the shape between the two circles'] == (2,)
    assert texts['the triangle between the two circles'] == ()
    assert texts['the yellow squares'] == (2, 3)
    assert texts['the square at the top'] == (2,)


def test_hidden_object_blocks_every_description_that_matches_it():
    scene = _scene(
        ('circle', 'red', 'small', 76, 64, 7.0),
        ('square', 'blue', 'big', 64, 64, 15.0),
        ('circle', 'red', 'small', 20, 110, 7.0),
        ('triangle', 'green', 'small', 110, 20, 9.0),
    )
    hidden = scene.objects[0]
    assert 0 < hidden.visible_area < 0.5 * hidden.full_area
    assert not hidden.referable
    exprs = enumerate_expressions(scene)
    texts = {e.text: e.referents for e in exprs}
    assert all(0 not in e.referents for e in exprs)
    for text in (
        'the red circle',
        'the red circles',
        'the circle',
        'the small shapes',
        'the red circle on the left',
    ):
        assert text not in texts
    assert texts['the blue square'] == (1,)
    assert texts['the green triangle'] == (3,)
    assert texts['the big shape'] == (1,)
    assert texts['the blue circle'] == ()  # absent from every object


def _parse(words):
    """(size, colour, shape, plural) from e.g. ['big', 'red', 'circles']."""
    size = words[0] if words[0] in SIZES else None
    colour = next((w for w in words if w in COLOURS), None)
    noun = words[-1]
    is_plural = noun.endswith('s')
    noun = noun[:-1] if is_plural else noun
    shape = noun if noun in SHAPES else None
    assert shape or noun in ('shape', 'object'), words
    return size, colour, shape, is_plural


def _matches(obj, size, colour, shape):
    return (
        (size is None or obj.size == size)
        and (colour is None or obj.colour == colour)
        and (shape is None or obj.shape == shape)
    )


def test_random_scenes_against_an_independent_reading():
    rng = np.random.default_rng(7)
    cfg = SceneConfig(num_objects=(2, 6))
    counts = dict.fromkeys(
        ['attribute', 'plural', 'count', 'extreme', 'neg_attribute'], 0
    )
    for _ in range(60):
        scene = sample_scene(rng, cfg)
        compute_masks(scene)
        objs = scene.objects
        for e in enumerate_expressions(scene, rng):
            words = e.text.split()
            assert set(words) <= set(SYNTHETIC_VOCAB), e.text
            assert all(objs[i].referable for i in e.referents), e
            if e.kind in ('attribute', 'plural', 'count', 'neg_attribute'):
                body = [
                    w
                    for w in words
                    if w
                    not in (
                        'the',
                        'all',
                        'both',
                        'two',
                        'three',
                        'four',
                        'five',
                        'six',
                    )
                ]
                size, colour, shape, is_plural = _parse(body)
                hit = tuple(
                    i
                    for i, o in enumerate(objs)
                    if _matches(o, size, colour, shape)
                )
                counts[e.kind] += 1
                if e.kind == 'neg_attribute':
                    assert hit == (), e
                    ref = [o for o in objs if o.referable]
                    assert size is None or any(o.size == size for o in ref)
                    assert colour is None or any(
                        o.colour == colour for o in ref
                    )
                    assert shape is None or any(o.shape == shape for o in ref)
                else:
                    assert hit == e.referents, e
                    assert is_plural == (len(hit) > 1), e
            elif e.kind == 'extreme':
                size, colour, shape, _ = _parse(words[2:])
                hit = [
                    i
                    for i, o in enumerate(objs)
                    if _matches(o, size, colour, shape)
                ]
                attr, sign = {
                    'leftmost': ('cx', 1),
                    'rightmost': ('cx', -1),
                    'topmost': ('cy', 1),
                    'bottommost': ('cy', -1),
                }[words[1]]
                values = [sign * getattr(objs[i], attr) for i in hit]
                assert e.referents == (hit[int(np.argmin(values))],), e
                counts['extreme'] += 1
            elif e.kind in ('attribute', 'position', 'extreme', 'superlative'):
                assert len(e.referents) == 1, e
            elif e.kind in ('plural_position', 'conjunction'):
                assert len(e.referents) >= 2, e
            elif e.kind.startswith('neg_'):
                assert e.referents == (), e
            else:  # relation / between: the noun's number tells
                assert len(e.referents) >= 1, e
    assert min(counts.values()) > 20, counts


def test_mix_balancer_serves_the_largest_deficit():
    bal = MixBalancer(multi=0.3, none=0.12)
    rng = np.random.default_rng(0)
    picks = []
    for _ in range(4):
        picks.append(bal.choose(('single', 'multi', 'none'), rng))
        bal.add(picks[-1])
    # deficits: (.58 .30 .12) -> single; (.16 .60 .24) -> multi;
    # (.74 -.10 .36) -> single; (.32 .20 .48) -> none
    assert picks == ['single', 'multi', 'single', 'none']
    assert bal.choose(('multi',), rng) == 'multi'
    with pytest.raises(ValueError):
        MixBalancer(multi=0.8, none=0.3)


def test_select_refs_groups_sentences_by_referent_set():
    exprs = [
        Expression('the red circle', (0,), 'attribute'),
        Expression('the leftmost shape', (0,), 'extreme'),
        Expression('the circles', (0, 1), 'plural'),
        Expression('two circles', (0, 1), 'count'),
        Expression('the blue circle', (), 'neg_attribute'),
        Expression('the red square', (), 'neg_attribute'),
    ]
    bal = MixBalancer(multi=0.3, none=0.12)
    refs = select_refs(
        exprs, np.random.default_rng(1), bal, 6, two_sentence_prob=1.0
    )
    assert sum(len(r.expressions) for r in refs) == 6
    for r in refs:
        assert all(e.referents == r.referents for e in r.expressions)
        assert (
            len({e.kind for e in r.expressions}) == len(r.expressions)
            or not r.referents
        )
    keys = [r.referents for r in refs if r.referents]
    assert sorted(keys) == [(0,), (0, 1)]
    assert bal.counts == dict(single=2, multi=2, none=2)
