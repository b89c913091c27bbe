# Copyright (c) mmgres contributors. All rights reserved.
"""Scenes, occlusion-aware masks and the COCO segmentation encodings of the
synthetic benchmark."""

import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmgres.datasets.synthetic import (
    COLOURS,
    Scene,
    SceneConfig,
    SceneObject,
    compressed_rle,
    compute_masks,
    paint_scene,
    sample_scene,
    uncompressed_rle,
)
from mmgres.datasets.synthetic.writer import encode_segmentation


def _shoelace(poly):
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.mark.parametrize('shape', ['square', 'triangle', 'diamond'])
def test_shapes_of_one_radius_have_the_area_of_the_circle(shape):
    # pi * 20**2 = 1256.6; rounding the vertices moves it by < 1 pixel
    obj = SceneObject(shape, 'red', 'big', 64, 64, 20.0)
    assert _shoelace(obj.polygon()) == pytest.approx(1256.6, abs=1.5)
    assert obj.nominal_area == pytest.approx(1256.64, abs=0.01)


def test_square_and_triangle_vertices():
    sq = SceneObject('square', 'red', 'big', 50, 50, 10.0).polygon()
    h = math.sqrt(math.pi) / 2 * 10  # 8.862
    assert sq.min(0) == pytest.approx([50 - h, 50 - h], abs=0.01)
    assert sq.max(0) == pytest.approx([50 + h, 50 + h], abs=0.01)
    tri = SceneObject('triangle', 'red', 'big', 50, 50, 10.0).polygon()
    # apex straight above the centroid, base below it: apex at distance R,
    # base at R / 2 with R = side / sqrt(3), side = sqrt(4 pi / sqrt(3))*r
    big_r = math.sqrt(4 * math.pi / math.sqrt(3)) * 10 / math.sqrt(3)
    assert tri[0] == pytest.approx([50, 50 - big_r], abs=0.01)
    assert tri[1:, 1] == pytest.approx([50 + big_r / 2] * 2, abs=0.01)


def test_bad_attribute_names_the_field():
    with pytest.raises(ValueError, match='colour'):
        SceneObject('circle', 'pink', 'big', 10, 10, 5)


def test_visible_masks_subtract_later_objects():
    # a 20x20 square (r chosen so that the half side is 10 px) under a
    # circle whose centre lies on the square's right edge
    r_sq = 20 / math.sqrt(math.pi)
    square = SceneObject('square', 'blue', 'big', 30, 30, r_sq)
    circle = SceneObject('circle', 'red', 'small', 40, 30, 6.0)
    scene = Scene(64, 64, [square, circle])
    full, visible = compute_masks(scene)
    assert (visible[1] == full[1]).all()
    assert not (visible[0] & full[1]).any()
    assert (visible[0] | (full[0] & full[1])).sum() == full[0].sum()
    # about 20 * 20 pixels in all; the circle hides about half of its own
    # disc (pi * 36 / 2 = 57) from the square
    assert square.full_area == 400
    assert 335 <= square.visible_area <= 355
    assert square.referable and circle.referable
    assert circle.visible_area == circle.full_area


def test_nearly_hidden_object_is_not_referable_and_hidden_one_dropped():
    small = SceneObject('circle', 'red', 'small', 32, 32, 4.0)
    edge = SceneObject('circle', 'green', 'small', 45, 32, 4.0)
    cover = SceneObject('square', 'blue', 'big', 36, 32, 12.0)
    scene = Scene(64, 64, [small, edge, cover])
    _, visible = compute_masks(scene)
    # ``small`` is entirely under the square (half side 10.6) -> removed;
    # ``edge`` peeks out on the right by about a quarter of its disc
    assert [o.colour for o in scene.objects] == ['green', 'blue']
    assert len(visible) == 2
    assert 0 < edge.visible_area < 0.5 * edge.full_area
    assert not edge.referable
    assert cover.referable


def test_paint_puts_each_object_colour_on_its_visible_pixels():
    a = SceneObject(
        'diamond', 'yellow', 'big', 20, 20, 9.0, rgb=(230, 200, 40)
    )
    b = SceneObject('circle', 'purple', 'big', 28, 24, 8.0, rgb=(150, 50, 200))
    scene = Scene(48, 40, [a, b], dict(rgb=(200, 190, 180), texture='plain'))
    full, visible = compute_masks(scene)
    img = paint_scene(scene, full, np.random.default_rng(0), noise_std=0)
    assert img.shape == (40, 48, 3) and img.dtype == np.uint8
    assert (img[visible[0]] == [230, 200, 40]).all()
    assert (img[visible[1]] == [150, 50, 200]).all()
    background = ~(full[0] | full[1])
    assert (img[background] == [200, 190, 180]).all()


def test_sample_scene_is_deterministic_and_inside_the_image():
    cfg = SceneConfig(img_size=96, num_objects=(4, 4))
    s1 = sample_scene(np.random.default_rng(3), cfg)
    s2 = sample_scene(np.random.default_rng(3), cfg)
    assert [vars(o) for o in s1.objects] == [vars(o) for o in s2.objects]
    assert len(s1.objects) == 4
    for obj in s1.objects:
        poly = obj.polygon()
        assert poly.min() >= 0 and poly.max() <= 96
        assert obj.colour in COLOURS
        lo, hi = cfg.radius[obj.size]
        assert lo * 96 - 1e-3 <= obj.radius <= hi * 96 + 1e-3


def test_uncompressed_rle_by_hand_and_round_trip():
    # column-major: column 0 = [0, 0], column 1 = [1, 1] -> 2 zeros, 2 ones
    assert uncompressed_rle(np.array([[0, 1], [0, 1]]))['counts'] == [2, 2]
    # a mask starting with a one starts with an empty run of zeros
    assert uncompressed_rle(np.array([[1, 0], [1, 0]]))['counts'] == [0, 2, 2]
    rng = np.random.default_rng(0)
    mask = rng.random((7, 5)) > 0.5
    rle = uncompressed_rle(mask)
    assert rle['size'] == [7, 5] and sum(rle['counts']) == 35
    decoded = mask_utils.decode(mask_utils.frPyObjects(rle, 7, 5))
    assert (decoded.astype(bool) == mask).all()
    comp = compressed_rle(mask)
    assert isinstance(comp['counts'], str)
    comp_bytes = dict(comp, counts=comp['counts'].encode())
    assert (mask_utils.decode(comp_bytes).astype(bool) == mask).all()


def test_polygon_annotation_decodes_to_the_drawn_pixels():
    obj = SceneObject('triangle', 'green', 'big', 30.3, 33.7, 11.0)
    scene = Scene(64, 64, [obj])
    full, visible = compute_masks(scene)
    seg = encode_segmentation(visible[0], obj.polygon(), False, 'polygon')
    assert isinstance(seg, list) and len(seg[0]) == 6
    rles = mask_utils.frPyObjects(seg, 64, 64)
    decoded = mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    assert (decoded == full[0]).all()
    # an occluded object never gets a polygon
    seg = encode_segmentation(visible[0], obj.polygon(), True, 'polygon')
    assert isinstance(seg, dict) and isinstance(seg['counts'], str)
    seg = encode_segmentation(visible[0], obj.polygon(), True, 'rle_list')
    assert isinstance(seg['counts'], list)
