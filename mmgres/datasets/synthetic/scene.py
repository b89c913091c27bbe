# Copyright (c) mmgres contributors. All rights reserved.
"""Scenes of simple coloured shapes, drawn with occlusion-aware masks.

A scene is a list of :class:`SceneObject` in drawing order: a later object
is drawn on top of the earlier ones. Every shape is a polygon (a circle is a
32-gon), rasterised once with pycocotools, so that a polygon annotation
decodes to exactly the pixels that were painted. The *visible* mask of an
object is its full mask minus the full masks of all objects drawn after it.

An object whose visible part is below ``min_visible_fraction`` of its full
area (or below ``min_visible_pixels``) is *not referable*: the grammar never
refers to it, and rejects any expression whose description would match it
(see :mod:`mmgres.datasets.synthetic.expressions`). Fully hidden objects are
removed from the scene.

All shapes of the same radius ``r`` have the same area ``pi * r**2``, so
"big"/"small" and "biggest"/"smallest" compare like with like.
"""

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from .vocab import COLOURS, SHAPES, SIZES

# Circumradius of each shape in units of ``r`` (equal-area shapes):
# square half side sqrt(pi)/2, triangle side sqrt(4 pi / sqrt(3)),
# diamond half diagonal sqrt(pi / 2).
_CIRCUMRADIUS = {
    'circle': 1.0,
    'square': math.sqrt(math.pi / 2),
    'triangle': math.sqrt(4 * math.pi / math.sqrt(3)) / math.sqrt(3),
    'diamond': math.sqrt(math.pi / 2),
}
_CIRCLE_VERTICES = 32


@dataclass
class SceneConfig:
    """Parameters of scene sampling and drawing.

    Args:
        img_size (int): Width and height of the square image in pixels.
        num_objects (tuple[int, int]): Inclusive range of objects per scene.
        radius (dict): Per size class, the range of ``r`` as a fraction of
            ``img_size``. The ranges are disjoint with a margin, so that the
            smallest big object has twice the area of the biggest small one.
        overlap_prob (float): Probability that an object is placed so that
            it may touch or overlap the objects already there.
        min_visible_fraction (float): An object is referable only when at
            least this fraction of it is visible.
        min_visible_pixels (int): ... and at least this many pixels.
        colour_jitter (int): Per-channel uniform jitter of an object colour.
        noise_std (float): Standard deviation of the Gaussian pixel noise.
        max_tries (int): Placement attempts per object.
    """

    img_size: int = 128
    num_objects: Tuple[int, int] = (2, 6)
    radius: Dict[str, Tuple[float, float]] = field(
        default_factory=lambda: dict(small=(0.05, 0.07), big=(0.10, 0.14))
    )
    overlap_prob: float = 0.3
    min_visible_fraction: float = 0.5
    min_visible_pixels: int = 12
    colour_jitter: int = 12
    noise_std: float = 4.0
    max_tries: int = 60


@dataclass
class SceneObject:
    """One shape of a scene.

    Args:
        shape (str): One of :data:`~.vocab.SHAPES`.
        colour (str): One of :data:`~.vocab.COLOURS`.
        size (str): ``'small'`` or ``'big'``.
        cx, cy (float): Centre (centroid) in pixels.
        radius (float): ``r``; the shape's area is ``pi * r**2``.
        rgb (tuple[int, int, int], optional): Drawn colour; the base colour
            of ``colour`` when None.
        full_area (int): Pixels of the whole shape (set by
            :func:`compute_masks`).
        visible_area (int): Pixels not covered by later objects (idem).
        referable (bool): Visible enough to be referred to (idem).
    """

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float
    rgb: Optional[Tuple[int, int, int]] = None
    full_area: int = 0
    visible_area: int = 0
    referable: bool = True

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ('shape', self.shape, SHAPES),
            ('colour', self.colour, tuple(COLOURS)),
            ('size', self.size, SIZES),
        ):
            if value not in allowed:
                raise ValueError(
                    f'SceneObject {name}={value!r} is not one of {allowed}'
                )
        if self.rgb is None:
            self.rgb = COLOURS[self.colour]

    @property
    def circumradius(self) -> float:
        """Distance from the centre to the farthest vertex, in pixels."""
        return _CIRCUMRADIUS[self.shape] * self.radius

    @property
    def nominal_area(self) -> float:
        """Area of the whole (unoccluded) shape, ``pi * r**2``."""
        return math.pi * self.radius**2

    @property
    def visible_fraction(self) -> float:
        return self.visible_area / max(self.full_area, 1)

    def polygon(self) -> np.ndarray:
        """Vertices, shape (K, 2), as ``(x, y)`` rounded to 2 decimals.

        The rounded values are the ones rasterised and written, so a polygon
        annotation decodes to exactly the drawn pixels.
        """
        cx, cy, r = self.cx, self.cy, self.radius
        if self.shape == 'circle':
            t = np.arange(_CIRCLE_VERTICES) * 2 * math.pi / _CIRCLE_VERTICES
            pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
        elif self.shape == 'square':
            h = math.sqrt(math.pi) / 2 * r
            pts = np.array(
                [
                    [cx - h, cy - h],
                    [cx + h, cy - h],
                    [cx + h, cy + h],
                    [cx - h, cy + h],
                ]
            )
        elif self.shape == 'triangle':
            big_r = self.circumradius  # pointing up, centroid at (cx, cy)
            t = -math.pi / 2 + np.arange(3) * 2 * math.pi / 3
            pts = np.stack([cx + big_r * np.cos(t), cy + big_r * np.sin(t)], 1)
        else:  # diamond
            d = self.circumradius
            pts = np.array(
                [[cx, cy - d], [cx + d, cy], [cx, cy + d], [cx - d, cy]]
            )
        return np.round(pts, 2)


@dataclass
class Scene:
    """Objects in drawing order plus the background parameters.

    Args:
        width, height (int): Image size in pixels.
        objects (list[SceneObject]): Drawing order, last on top.
        background (dict): ``rgb`` (base colour), ``texture`` (``'plain'``,
            ``'gradient'`` or ``'stripes'``), ``amplitude``, ``phase``.
    """

    width: int
    height: int
    objects: List[SceneObject]
    background: Dict = field(
        default_factory=lambda: dict(rgb=(200, 200, 200), texture='plain')
    )


def rasterize_polygon(
    polygon: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Rasterise a polygon the way pycocotools decodes polygon annotations.

    Args:
        polygon (np.ndarray): Vertices, shape (K, 2), ``(x, y)``.
        height, width (int): Canvas size.

    Returns:
        np.ndarray: Boolean mask, shape (height, width).
    """
    rles = mask_utils.frPyObjects(
        [polygon.reshape(-1).tolist()], height, width
    )
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def compute_masks(
    scene: Scene,
    min_visible_fraction: float = 0.5,
    min_visible_pixels: int = 12,
) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Full and visible masks; updates the objects' areas and referability.

    Objects with no visible pixel are removed from ``scene.objects``
    (removing them changes no other object's visible mask).

    Returns:
        tuple[list[np.ndarray], list[np.ndarray]]: Full masks and visible
        masks, each a list of boolean arrays of shape (H, W), aligned with
        the (filtered) ``scene.objects``.
    """
    h, w = scene.height, scene.width
    full = [rasterize_polygon(o.polygon(), h, w) for o in scene.objects]
    covered = np.zeros((h, w), dtype=bool)
    visible: List[Optional[np.ndarray]] = [None] * len(full)
    for i in range(len(full) - 1, -1, -1):
        visible[i] = full[i] & ~covered
        covered |= full[i]
    keep = [i for i, v in enumerate(visible) if v.any()]
    scene.objects = [scene.objects[i] for i in keep]
    full = [full[i] for i in keep]
    visible = [visible[i] for i in keep]
    for obj, f, v in zip(scene.objects, full, visible):
        obj.full_area = int(f.sum())
        obj.visible_area = int(v.sum())
        obj.referable = (
            obj.visible_area >= min_visible_pixels
            and obj.visible_fraction >= min_visible_fraction
        )
    return full, visible


def paint_scene(
    scene: Scene,
    full_masks: List[np.ndarray],
    rng: np.random.Generator,
    noise_std: float = 4.0,
) -> np.ndarray:
    """Paint the background, the objects in order, then pixel noise.

    Returns:
        np.ndarray: RGB image, shape (H, W, 3), uint8.
    """
    h, w = scene.height, scene.width
    bg = scene.background
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = np.asarray(bg['rgb'], dtype=np.float32)
    amp = float(bg.get('amplitude', 0.0))
    if bg.get('texture') == 'gradient':
        ramp = np.linspace(-amp, amp, w, dtype=np.float32)
        img += (
            ramp[None, :, None]
            if bg.get('phase', 0) < 0.5
            else ramp[:, None, None]
        )
    elif bg.get('texture') == 'stripes':
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img += (amp * np.sin((xx + yy) * 0.35 + bg.get('phase', 0) * 6.28))[
            ..., None
        ]
    for obj, m in zip(scene.objects, full_masks):
        img[m] = np.asarray(obj.rgb, dtype=np.float32)
    if noise_std > 0:
        img += rng.normal(0, noise_std, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _sample_background(rng: np.random.Generator) -> Dict:
    grey = rng.uniform(165, 225)
    tint = rng.uniform(-12, 12, 3)
    return dict(
        rgb=tuple(int(v) for v in np.clip(grey + tint, 0, 255)),
        texture=str(rng.choice(['plain', 'gradient', 'stripes'])),
        amplitude=float(rng.uniform(4, 12)),
        phase=float(rng.random()),
    )


def _place(
    rng: np.random.Generator,
    cfg: SceneConfig,
    placed: List[SceneObject],
    ext: float,
    allow_overlap: bool,
) -> Optional[Tuple[float, float]]:
    s = cfg.img_size
    lo, hi = ext + 1, s - ext - 1
    for _ in range(cfg.max_tries):
        cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
        ok = True
        for o in placed:
            reach = o.circumradius + ext
            min_dist = 0.5 * reach if allow_overlap else reach + 1
            if math.hypot(o.cx - cx, o.cy - cy) < min_dist:
                ok = False
                break
        if ok:
            return cx, cy
    return None


def sample_scene(
    rng: np.random.Generator,
    cfg: Optional[SceneConfig] = None,
    num_objects: Optional[int] = None,
) -> Scene:
    """Sample a scene (objects and background); masks are not computed.

    Each object draws a shape, colour and size uniformly, then a position
    that keeps it inside the image. With probability ``cfg.overlap_prob`` it
    may overlap earlier objects (centres at least half the sum of the
    circumradii apart), otherwise it must keep clear of them. An object that
    finds no place is tried once more with overlap allowed, then dropped.
    """
    cfg = cfg or SceneConfig()
    if num_objects is None:
        num_objects = int(
            rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1)
        )
    objects: List[SceneObject] = []
    for _ in range(num_objects):
        shape = str(rng.choice(SHAPES))
        colour = str(rng.choice(list(COLOURS)))
        size = str(rng.choice(SIZES))
        lo, hi = cfg.radius[size]
        radius = float(rng.uniform(lo, hi) * cfg.img_size)
        ext = _CIRCUMRADIUS[shape] * radius
        jitter = rng.integers(-cfg.colour_jitter, cfg.colour_jitter + 1, 3)
        rgb = tuple(
            int(v) for v in np.clip(np.add(COLOURS[colour], jitter), 0, 255)
        )
        allow = bool(rng.random() < cfg.overlap_prob)
        pos = _place(rng, cfg, objects, ext, allow)
        if pos is None and not allow:
            pos = _place(rng, cfg, objects, ext, True)
        if pos is None:
            continue
        objects.append(
            SceneObject(
                shape,
                colour,
                size,
                round(float(pos[0]), 2),
                round(float(pos[1]), 2),
                round(radius, 3),
                rgb,
            )
        )
    return Scene(cfg.img_size, cfg.img_size, objects, _sample_background(rng))
