"""The text-aware RandomFlip."""

import numpy as np
import pytest
from mmdet.datasets.transforms import RandomFlip as MMDetRandomFlip
from mmengine.registry import DefaultScope
from refer_fixtures import dataset_cfg, image_array

from mmgres.datasets.transforms import (
    LoadImageFromFile,
    LoadReferringAnnotations,
    RandomFlip,
    swap_words,
)
from mmgres.datasets.transforms.text_flip import (
    HORIZONTAL_PAIRS,
    VERTICAL_PAIRS,
)
from mmgres.registry import DATASETS, TRANSFORMS


@pytest.mark.parametrize(
    'text, expected',
    [
        ('the man on the left', 'the man on the right'),
        ('Left person', 'Right person'),
        ('the LEFTMOST cup', 'the RIGHTMOST cup'),
        ('rightmost zebra', 'leftmost zebra'),
        ('bright light on the left', 'bright light on the right'),
        ('leftover rightly copyright', 'leftover rightly copyright'),
        ('left-hand side', 'right-hand side'),
        ('left and right', 'right and left'),
        ('the man on the left.', 'the man on the right.'),
        ('no spatial words', 'no spatial words'),
    ],
)
def test_swap_horizontal(text, expected):
    assert swap_words(text, HORIZONTAL_PAIRS) == expected


def test_swap_vertical():
    assert (
        swap_words('the top one on the left', VERTICAL_PAIRS)
        == 'the bottom one on the left'
    )
    assert (
        swap_words('cup above the Lower shelf', VERTICAL_PAIRS)
        == 'cup below the Upper shelf'
    )
    assert swap_words('stop', VERTICAL_PAIRS) == 'stop'


def test_registered_over_mmdet():
    t = TRANSFORMS.build(dict(type='RandomFlip', prob=0.5))
    assert type(t) is RandomFlip and isinstance(t, MMDetRandomFlip)
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS

        assert (
            type(MMDET_TRANSFORMS.build(dict(type='RandomFlip', prob=0.5)))
            is MMDetRandomFlip
        )


@pytest.fixture(scope='module')
def loaded(refer_root):
    ds = DATASETS.build(dataset_cfg(refer_root, 'grefcoco'))
    load = [LoadImageFromFile(), LoadReferringAnnotations()]
    out = []
    for i in (0, 2):  # "the square on the left"; ref 101 (multi-target)
        results = ds.get_data_info(i)
        for t in load:
            results = t(results)
        out.append(results)
    return out


def test_horizontal_flip_swaps_text_and_flips_gt(loaded):
    results = RandomFlip(prob=1.0)(dict(loaded[0]))
    assert results['flip'] and results['flip_direction'] == 'horizontal'
    assert results['text'] == 'the square on the right'
    np.testing.assert_array_equal(results['img'], image_array(1)[:, ::-1])

    results = RandomFlip(prob=1.0)(dict(loaded[1]))
    assert results['text'] == 'both blocks on the left'
    # ann 13 covered rows 0..4 x cols 40..47; mirrored: cols 0..7 (w = 48)
    expected = np.zeros((32, 48), np.uint8)
    expected[0:5, 0:8] = 1
    np.testing.assert_array_equal(results['gt_masks'].masks[1], expected)
    assert results['gt_bboxes'].tensor[1].tolist() == [0.0, 0.0, 8.0, 5.0]
    # ann 12: cols 30..39 -> 8..17; bbox x 30..40 -> 8..18
    assert results['gt_bboxes'].tensor[0].tolist() == [8.0, 20.0, 18.0, 28.0]
    assert results['gt_seg_map'][20:28, 8:18].all()
    assert results['gt_seg_map'].sum() == 120


def test_no_flip_keeps_text(loaded):
    results = RandomFlip(prob=0.0)(dict(loaded[0]))
    assert not results['flip']
    assert results['text'] == 'the square on the left'


def test_vertical_flip_keeps_left(loaded):
    results = RandomFlip(prob=1.0, direction='vertical')(
        dict(loaded[0], text='the top square on the left')
    )
    assert results['text'] == 'the bottom square on the left'
    results = RandomFlip(prob=1.0, direction='diagonal')(
        dict(loaded[0], text='the top square on the left')
    )
    assert results['text'] == 'the bottom square on the right'
