# Copyright (c) mmgres contributors. All rights reserved.
"""Write gRefCOCO and RefCOCO annotation files at the release's real size.

    python tools/dataset_converters/generate_realscale_refer.py \\
        --out-dir data/realscale [--scale 1.0] [--seed 0]
        [--write-images 64]

The files are in the official formats and have the official COUNTS; their
content is random. They exist to measure what the dataset code costs at
the real size (``tools/analysis_tools/benchmark_dataset_index.py``), not
to train on. Layout under ``OUT_DIR``::

    grefcoco/grefs(unc).json       gRefCOCO refs (JSON list)
    grefcoco/instances.json        COCO instances of the 19,994 images
    grefcoco/images/train2014/     the image files
    refcoco/refs(unc).p            classic RefCOCO refs (pickle, protocol 2)
    refcoco/instances.json         the same COCO instances
    refcoco/images/train2014/      the same image files

Counts (``--scale 1``) and where they come from:

- gRefCOCO: 278,232 expressions, 80,022 multi-target, 32,202 no-target,
  19,994 images, 60,287 distinct target objects (Liu et al., "GRES",
  CVPR 2023; as InstAlign's supplementary Sec. 7.1 and GSVA's Sec. 4.1
  restate them).
  The public ``grefs(unc).json`` holds 259,859 of them; the rest is kept
  for a challenge (henghuiding/gRefCOCO issue #6). The counts per split and
  the number of refs are not published: gRefCOCO follows RefCOCO's UNC
  image partition (GSVA Sec. 4.1), so the expressions are apportioned to
  the splits in RefCOCO's proportions (120,624 : 10,834 : 5,657 : 5,095),
  each split with the overall multi-target and no-target shares, and the
  refs number 278,232 / (142,210 / 50,000) = 97,824 (RefCOCO's sentences
  per ref). Derived, not published.
- RefCOCO (UNC split, the ``refer`` toolkit's ``refs(unc).p``): 50,000
  refs and 142,210 expressions over 19,994 images; refs and images per
  split 42,404 / 3,811 / 1,975 / 1,810 and 16,994 / 1,500 / 750 / 750
  (TensorFlow Datasets' ``ref_coco`` catalogue), expressions 120,624 /
  10,834 / 5,657 / 5,095 (FlagEval's RefCOCO page; RaAM's Sec. 4 rounds
  the total to 142,209).
- ``instances.json``: 196,771 annotations over the 19,994 images (what
  LISA's refer-seg loader reports for RefCOCO's ``instances.json``: "has
  16994 images and 196771 annotations", ``refer_api.Anns``), with the 80
  COCO categories and their COCO ids. gRefCOCO's ``instances.json`` covers
  the same images; the same file is written for both.

Ours (not published, approximating COCO): 2 objects per image plus a
random share of the rest (gamma(1.5) weights; 9.8 per image on average);
about 1% ``iscrowd`` objects, segmented as
uncompressed RLE (as COCO's crowd objects are) and never a target; the
other objects are polygons with a median of 18 vertices (log-normal,
3 to 400), 15% of them in 2 to 5 parts; coordinates with 2 decimals, as
COCO's; multi-target refs have 1 + Geometric(0.6) targets (2.7 on
average, at most the image's objects);
sentences of 1 + Poisson(2.5) words (RefCOCO averages 3.5) and
1 + Poisson(3.5) for multi- and no-target ones.

Images: ``--write-images N`` distinct JPEGs (sizes COCO uses often, such
as 640x480 and 480x640) are shared by file name between the image
records; every record's ``width``/``height`` is its file's. Deterministic:
the same arguments write the same bytes.
"""

import argparse
import json
import os
import os.path as osp
import pickle
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

SPLITS = ('train', 'val', 'testA', 'testB')

#: gRefCOCO totals (GRES, CVPR 2023, Sec. 3).
GREFCOCO = dict(
    expressions=278_232,
    multi_target=80_022,
    no_target=32_202,
    images=19_994,
    target_objects=60_287,
)
#: RefCOCO, UNC split (TFDS ``ref_coco`` catalogue, ``refer`` toolkit).
REFCOCO_REFS = dict(train=42_404, val=3_811, testA=1_975, testB=1_810)
REFCOCO_EXPRESSIONS = dict(train=120_624, val=10_834, testA=5_657, testB=5_095)
UNC_IMAGES = dict(train=16_994, val=1_500, testA=750, testB=750)
#: Annotations of RefCOCO's instances.json (LISA's loader log, see above).
NUM_ANNOTATIONS = 196_771

#: Ours (see the module docstring).
CROWD_SHARE = 0.01
POLYGON_MEDIAN_VERTICES = 18
MULTI_PART_SHARE = 0.15
#: (width, height) of the shared image files, sizes COCO uses often.
IMAGE_SIZES = (
    (640, 480),
    (640, 427),
    (480, 640),
    (640, 425),
    (500, 375),
    (427, 640),
    (640, 512),
    (612, 612),
)
#: COCO category ids (80 of 1..90), in the order of mmdet's class names.
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
)  # fmt: skip
#: Their names, as mmdet's ``CocoDataset`` matches them (spaces as _).
COCO_CATEGORY_NAMES = (
    'person bicycle car motorcycle airplane bus train truck boat '
    'traffic_light fire_hydrant stop_sign parking_meter bench bird cat dog '
    'horse sheep cow elephant bear zebra giraffe backpack umbrella handbag '
    'tie suitcase frisbee skis snowboard sports_ball kite baseball_bat '
    'baseball_glove skateboard surfboard tennis_racket bottle wine_glass '
    'cup fork knife spoon bowl banana apple sandwich orange broccoli carrot '
    'hot_dog pizza donut cake chair couch potted_plant bed dining_table '
    'toilet tv laptop mouse remote keyboard cell_phone microwave oven '
    'toaster sink refrigerator book clock vase scissors teddy_bear '
    'hair_drier toothbrush'
).split()
WORDS = (
    'left right middle center front back top bottom far near closest '
    'first second third last two three both all other big small tall '
    'short white black red blue green yellow brown gray orange pink dark '
    'light striped wooden open half partial with without in on behind '
    'next to the a of and holding wearing sitting standing near guy man '
    'woman lady kid boy girl person people player shirt jacket hat chair '
    'table car bus truck bike horse dog cat cow sheep elephant giraffe '
    'zebra bear bird plate bowl cup glass bottle pizza cake sandwich donut '
    'banana apple orange broccoli couch bed tv laptop phone book vase '
    'umbrella bag suitcase board skis'
).split()

GREFS_FILE = 'grefs(unc).json'
REFS_FILE = 'refs(unc).p'
INSTANCES_FILE = 'instances.json'
IMAGE_DIR = osp.join('images', 'train2014')


def apportion(total: int, weights: Sequence[float], minimum: int = 0):
    """Split ``total`` into integers proportional to ``weights`` (largest
    remainders), then raise any below ``minimum`` (taking from the
    largest) where ``total`` allows.

    Example:
        >>> apportion(10, [1, 1, 1])
        [4, 3, 3]
        >>> apportion(10, [100, 1, 0], minimum=1)
        [8, 1, 1]
    """
    weights = np.asarray(weights, dtype=np.float64)
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind='stable')
    counts[order[: total - int(counts.sum())]] += 1
    if total >= minimum * len(counts):
        while counts.min() < minimum:
            counts[np.argmin(counts)] += 1
            counts[np.argmax(counts)] -= 1
    return counts.tolist()


def plan_counts(scale: float = 1.0) -> Dict:
    """The counts to write at ``scale`` (1 = the real release).

    Returns:
        dict: ``images``, ``annotations``, ``grefcoco`` and ``refcoco``,
        the last two with per-split dicts (``expressions``, ``refs`` and,
        for gRefCOCO, ``multi_target`` and ``no_target``).
    """

    def scaled(n: int, minimum: int = 1) -> int:
        return max(minimum, int(round(n * scale)))

    images = dict(
        zip(
            SPLITS,
            apportion(
                scaled(GREFCOCO['images'], 4),
                [UNC_IMAGES[s] for s in SPLITS],
                1,
            ),
        )
    )
    num_images = sum(images.values())
    annotations = max(3 * num_images, scaled(NUM_ANNOTATIONS))
    weights = [REFCOCO_EXPRESSIONS[s] for s in SPLITS]
    expressions = apportion(scaled(GREFCOCO['expressions'], 12), weights, 3)
    refs = apportion(
        scaled(
            round(
                GREFCOCO['expressions']
                * sum(REFCOCO_REFS.values())
                / sum(weights)
            ),
            12,
        ),
        weights,
        3,
    )
    # each kind apportioned to the splits, so that the totals are exact
    no_target = apportion(scaled(GREFCOCO['no_target']), expressions, 1)
    multi = apportion(scaled(GREFCOCO['multi_target']), expressions, 1)
    gref = {}
    for split, e, r, nt, mt in zip(
        SPLITS, expressions, refs, no_target, multi
    ):
        gref[split] = dict(
            expressions=e, refs=min(r, e), multi_target=mt, no_target=nt
        )
    ref_refs = apportion(
        scaled(sum(REFCOCO_REFS.values()), 4),
        [REFCOCO_REFS[s] for s in SPLITS],
        1,
    )
    ref_expr = apportion(
        scaled(sum(REFCOCO_EXPRESSIONS.values()), 4), weights, 1
    )
    refcoco = {
        s: dict(refs=min(r, e), expressions=e)
        for s, r, e in zip(SPLITS, ref_refs, ref_expr)
    }
    return dict(
        images=images,
        annotations=annotations,
        target_objects=scaled(GREFCOCO['target_objects']),
        grefcoco=gref,
        refcoco=refcoco,
    )


# ----------------------------------------------------------------------
# instances.json
# ----------------------------------------------------------------------
def write_image_files(root: str, num: int, rng) -> List[Dict]:
    """``num`` JPEGs of coloured shapes; returns their names and sizes."""
    os.makedirs(osp.join(root, IMAGE_DIR), exist_ok=True)
    files = []
    for k in range(num):
        w, h = IMAGE_SIZES[k % len(IMAGE_SIZES)]
        img = np.empty((h, w, 3), np.uint8)
        img[:] = rng.integers(40, 200, 3, dtype=np.uint8)
        for _ in range(6):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            r = int(rng.integers(10, min(w, h) // 4))
            color = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.circle(img, (x, y), r, color, -1)
        name = f'realscale_{k:04d}.jpg'
        cv2.imwrite(
            osp.join(root, IMAGE_DIR, name),
            img,
            [cv2.IMWRITE_JPEG_QUALITY, 90],
        )
        files.append(dict(file_name=name, width=w, height=h))
    return files


def _polygons(rng, num_objects: int, widths, heights):
    """Polygons of ``num_objects`` objects, vectorised.

    Returns the polygons of each object (lists of flat coordinate lists),
    their boxes (x, y, w, h) and areas.
    """
    parts = np.ones(num_objects, np.int64)
    multi = rng.random(num_objects) < MULTI_PART_SHARE
    parts[multi] = rng.integers(2, 6, int(multi.sum()))
    num_polys = int(parts.sum())
    owner = np.repeat(np.arange(num_objects), parts)
    verts = np.clip(
        np.round(
            rng.lognormal(np.log(POLYGON_MEDIAN_VERTICES), 0.6, num_polys)
        ),
        3,
        400,
    ).astype(np.int64)
    w = widths[owner].astype(np.float64)
    h = heights[owner].astype(np.float64)
    # each part an ellipse-like ring inside the image
    rx = np.maximum(
        2.0, w * np.exp(rng.uniform(np.log(0.02), np.log(0.3), num_polys))
    )
    ry = np.maximum(
        2.0, h * np.exp(rng.uniform(np.log(0.02), np.log(0.3), num_polys))
    )
    cx = rng.uniform(rx, w - rx)
    cy = rng.uniform(ry, h - ry)
    poly_of = np.repeat(np.arange(num_polys), verts)
    angle = rng.random(len(poly_of)) * 2 * np.pi
    order = np.lexsort((angle, poly_of))
    angle = angle[order]
    radius = rng.uniform(0.6, 1.0, len(poly_of))
    xs = np.round(cx[poly_of] + rx[poly_of] * radius * np.cos(angle), 2)
    ys = np.round(cy[poly_of] + ry[poly_of] * radius * np.sin(angle), 2)
    xs = np.clip(xs, 0, w[poly_of])
    ys = np.clip(ys, 0, h[poly_of])
    starts = np.concatenate([[0], np.cumsum(verts)[:-1]])
    # shoelace area per polygon
    nxt = np.arange(len(xs)) + 1
    ends = starts + verts
    nxt[ends - 1] = starts
    cross = xs * ys[nxt] - xs[nxt] * ys
    area = np.abs(np.add.reduceat(cross, starts)) / 2
    flat = np.empty(2 * len(xs))
    flat[0::2], flat[1::2] = xs, ys
    flat = flat.tolist()
    polys = [
        flat[2 * s : 2 * (s + n)]
        for s, n in zip(starts.tolist(), verts.tolist())
    ]
    x0 = np.minimum.reduceat(xs, starts)
    x1 = np.maximum.reduceat(xs, starts)
    y0 = np.minimum.reduceat(ys, starts)
    y1 = np.maximum.reduceat(ys, starts)
    obj_start = np.concatenate([[0], np.cumsum(parts)[:-1]])
    bx0 = np.minimum.reduceat(x0, obj_start)
    bx1 = np.maximum.reduceat(x1, obj_start)
    by0 = np.minimum.reduceat(y0, obj_start)
    by1 = np.maximum.reduceat(y1, obj_start)
    obj_area = np.add.reduceat(area, obj_start)
    segms = [
        polys[s : s + n] for s, n in zip(obj_start.tolist(), parts.tolist())
    ]
    boxes = np.stack([bx0, by0, bx1 - bx0, by1 - by0], 1)
    return segms, np.round(boxes, 2).tolist(), np.round(obj_area, 2).tolist()


def _crowd_rle(rng, w: int, h: int):
    """An uncompressed RLE blob (column heights varying), as COCO's crowd
    objects are stored; returns the segmentation, box and area."""
    bw = int(rng.integers(w // 6, w // 2))
    x0 = int(rng.integers(0, w - bw))
    mid = int(rng.integers(h // 4, 3 * h // 4))
    half = np.clip(
        np.cumsum(rng.integers(-3, 4, bw)) + h // 6, 2, h // 3
    ).astype(np.int64)
    top = np.clip(mid - half, 0, h - 1)
    bottom = np.clip(mid + half, 1, h)
    counts = []
    pos = 0
    for col in range(bw):
        start = (x0 + col) * h + int(top[col])
        counts += [start - pos, int(bottom[col] - top[col])]
        pos = start + counts[-1]
    counts.append(w * h - pos)
    area = float((bottom - top).sum())
    box = [
        float(x0),
        float(top.min()),
        float(bw),
        float(bottom.max() - top.min()),
    ]
    return dict(size=[h, w], counts=counts), box, area


def build_instances(plan: Dict, files: List[Dict], rng):
    """COCO images, annotations and categories, plus per-image indexes."""
    categories = [
        dict(id=i, name=n.replace('_', ' '), supercategory='object')
        for i, n in zip(COCO_CATEGORY_IDS, COCO_CATEGORY_NAMES)
    ]
    num_images = sum(plan['images'].values())
    image_ids = np.sort(
        rng.choice(np.arange(1, 581_930), num_images, replace=False)
    )
    file_of = rng.integers(0, len(files), num_images)
    images = [
        dict(
            id=int(i),
            file_name=files[f]['file_name'],
            width=files[f]['width'],
            height=files[f]['height'],
        )
        for i, f in zip(image_ids, file_of)
    ]
    # image index -> split (UNC partition sizes)
    split_of = np.repeat(
        np.arange(len(SPLITS)), [plan['images'][s] for s in SPLITS]
    )
    split_of = split_of[rng.permutation(num_images)]

    total = plan['annotations']
    weight = rng.gamma(1.5, size=num_images)
    per_image = 2 + rng.multinomial(
        total - 2 * num_images, weight / weight.sum()
    )
    owner = np.repeat(np.arange(num_images), per_image)
    rank = np.arange(total) - np.repeat(
        np.cumsum(per_image) - per_image, per_image
    )
    # crowd objects only from the third object of an image on, so every
    # image keeps at least two objects that refs can target
    candidates = np.flatnonzero(rank >= 2)
    num_crowd = min(len(candidates), int(round(total * CROWD_SHARE)))
    crowd = np.zeros(total, bool)
    crowd[rng.choice(candidates, num_crowd, replace=False)] = True
    ann_ids = np.sort(
        rng.choice(np.arange(1, 2_300_000), total, replace=False)
    )
    category = rng.choice(np.asarray(COCO_CATEGORY_IDS), total)
    widths = np.array([im['width'] for im in images])[owner]
    heights = np.array([im['height'] for im in images])[owner]
    plain = np.flatnonzero(~crowd)
    segms, boxes, areas = _polygons(
        rng, len(plain), widths[plain], heights[plain]
    )
    annotations: List[Optional[Dict]] = [None] * total
    for k, idx in enumerate(plain.tolist()):
        annotations[idx] = dict(
            segmentation=segms[k],
            area=areas[k],
            iscrowd=0,
            image_id=int(image_ids[owner[idx]]),
            bbox=boxes[k],
            category_id=int(category[idx]),
            id=int(ann_ids[idx]),
        )
    for idx in np.flatnonzero(crowd).tolist():
        segm, box, area = _crowd_rle(rng, int(widths[idx]), int(heights[idx]))
        annotations[idx] = dict(
            segmentation=segm,
            area=area,
            iscrowd=1,
            image_id=int(image_ids[owner[idx]]),
            bbox=box,
            category_id=int(category[idx]),
            id=int(ann_ids[idx]),
        )
    instances = dict(
        images=images, annotations=annotations, categories=categories
    )
    # per image: its non-crowd annotation indices
    bounds = np.concatenate([[0], np.cumsum(per_image)])
    usable = [
        [a for a in range(bounds[i], bounds[i + 1]) if not crowd[a]]
        for i in range(num_images)
    ]
    return instances, split_of, usable


# ----------------------------------------------------------------------
# refs
# ----------------------------------------------------------------------
class _Sentences:
    """Random sentences in the refer toolkit's format, with global ids."""

    def __init__(self, rng) -> None:
        self.rng = rng
        self.next_id = 0

    def make(self, num: int, mean_extra_words: float) -> List[Dict]:
        lengths = 1 + self.rng.poisson(mean_extra_words, num)
        words = self.rng.integers(0, len(WORDS), int(lengths.sum()))
        out, pos = [], 0
        for n in lengths.tolist():
            tokens = [WORDS[w] for w in words[pos : pos + n]]
            pos += n
            sent = ' '.join(tokens)
            out.append(
                dict(
                    tokens=tokens,
                    raw=sent.capitalize(),
                    sent_id=self.next_id,
                    sent=sent,
                )
            )
            self.next_id += 1
        return out


def _spread(rng, total: int, bins: int) -> np.ndarray:
    """``total`` items over ``bins`` bins, each at least 1, at random."""
    return 1 + np.bincount(rng.integers(0, bins, total - bins), minlength=bins)


def _refs_per_image(
    rng,
    num_refs: int,
    image_idx: np.ndarray,
    capacity: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """The image of each of ``num_refs`` refs: every image one first
    (while refs last), then the rest at random, within each image's
    ``capacity`` when given."""
    first = image_idx[rng.permutation(len(image_idx))][:num_refs]
    rest = num_refs - len(first)
    if rest <= 0:
        return first
    if capacity is None:
        more = image_idx[rng.integers(0, len(image_idx), rest)]
    else:
        slots = np.repeat(image_idx, np.maximum(np.asarray(capacity) - 1, 0))
        more = slots[
            rng.choice(len(slots), min(rest, len(slots)), replace=False)
        ]
    assigned = np.concatenate([first, more])
    return assigned[rng.permutation(len(assigned))]


def _file_name(image_id: int, ann_id: int) -> str:
    # the refs' file_name carries an annotation-id suffix, as released
    return f'COCO_train2014_{image_id:012d}_{ann_id}.jpg'


def build_grefs(plan, instances, split_of, usable, rng) -> List[Dict]:
    """gRefCOCO refs: single-, multi- and no-target, per split."""
    anns = instances['annotations']
    images = instances['images']
    sentences = _Sentences(rng)
    refs: List[Dict] = []
    pending = []  # (ref, image index, number of targets)
    for s, split in enumerate(SPLITS):
        p = plan['grefcoco'][split]
        idx = np.flatnonzero(split_of == s)
        kinds = ('no_target', 'multi_target', 'single')
        expr = [
            p['no_target'],
            p['multi_target'],
            p['expressions'] - p['no_target'] - p['multi_target'],
        ]
        num_refs = apportion(p['refs'], expr, 1)
        num_refs = [min(r, e) for r, e in zip(num_refs, expr)]
        where = _refs_per_image(rng, sum(num_refs), idx)
        pos = 0
        for kind, r, e in zip(kinds, num_refs, expr):
            sent_counts = _spread(rng, e, r)
            extra = 2.5 if kind == 'single' else 3.5
            for n in sent_counts.tolist():
                img = int(where[pos])
                pos += 1
                sents = sentences.make(n, extra)
                ref = dict(
                    sent_ids=[x['sent_id'] for x in sents],
                    file_name='',
                    ann_id=[-1],
                    ref_id=len(refs),
                    image_id=images[img]['id'],
                    split=split,
                    sentences=sents,
                    category_id=[-1],
                    no_target=kind == 'no_target',
                )
                refs.append(ref)
                if kind != 'no_target':
                    t = 1
                    if kind == 'multi_target':
                        t = min(len(usable[img]), 1 + rng.geometric(0.6))
                    pending.append((ref, img, t))
    _assign_targets(pending, usable, plan['target_objects'], rng)
    for ref in refs:
        if not ref['no_target']:
            ref['category_id'] = [
                anns[a]['category_id'] for a in ref['ann_id']
            ]
            ref['ann_id'] = [anns[a]['id'] for a in ref['ann_id']]
        ref['file_name'] = _file_name(
            ref['image_id'], ref['ann_id'][0] if ref['ann_id'][0] != -1 else 0
        )
    refs.sort(key=lambda r: r['ref_id'])
    return refs


def _assign_targets(pending, usable, target_objects: int, rng) -> None:
    """Give each target ref its objects so that about ``target_objects``
    distinct objects are targets: each image's targets cycle through a
    pool of its objects whose sizes add up to that number."""
    by_image: Dict[int, list] = {}
    for ref, img, t in pending:
        by_image.setdefault(img, []).append((ref, t))
    imgs = sorted(by_image)
    slots = np.array([sum(t for _, t in by_image[i]) for i in imgs])
    widest = np.array([max(t for _, t in by_image[i]) for i in imgs])
    cap = np.minimum(slots, [len(usable[i]) for i in imgs])
    base = np.minimum(widest, cap)
    pool = base.copy()
    extra = target_objects - int(base.sum())
    if extra > 0:
        room = np.repeat(np.arange(len(imgs)), cap - base)
        take = rng.choice(len(room), min(extra, len(room)), replace=False)
        np.add.at(pool, room[take], 1)
    for k, img in enumerate(imgs):
        objects = [usable[img][j] for j in rng.permutation(len(usable[img]))]
        objects = objects[: int(pool[k])]
        cursor = 0
        for ref, t in by_image[img]:
            ref['ann_id'] = [
                objects[(cursor + j) % len(objects)] for j in range(t)
            ]
            cursor += t


def build_refcoco(plan, instances, split_of, usable, rng) -> List[Dict]:
    """Classic RefCOCO refs: one distinct object per ref."""
    anns = instances['annotations']
    images = instances['images']
    sentences = _Sentences(rng)
    refs = []
    for s, split in enumerate(SPLITS):
        p = plan['refcoco'][split]
        idx = np.flatnonzero(split_of == s)
        where = _refs_per_image(
            rng, p['refs'], idx, [len(usable[i]) for i in idx]
        )
        sent_counts = _spread(rng, p['expressions'], len(where))
        taken: Dict[int, list] = {}
        for img, n in zip(where.tolist(), sent_counts.tolist()):
            if img not in taken:
                taken[img] = [
                    usable[img][j] for j in rng.permutation(len(usable[img]))
                ]
            a = taken[img].pop()
            sents = sentences.make(n, 2.5)
            refs.append(
                dict(
                    sent_ids=[x['sent_id'] for x in sents],
                    file_name=_file_name(images[img]['id'], anns[a]['id']),
                    ann_id=anns[a]['id'],
                    ref_id=len(refs),
                    category_id=anns[a]['category_id'],
                    split=split,
                    sentences=sents,
                    image_id=images[img]['id'],
                )
            )
    return refs


# ----------------------------------------------------------------------
# main
# ----------------------------------------------------------------------
def generate(
    out_dir: str, scale: float = 1.0, seed: int = 0, write_images: int = 64
) -> Dict:
    """Write every file; return a summary of what was written."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    plan = plan_counts(scale)
    gref_root = osp.join(out_dir, 'grefcoco')
    ref_root = osp.join(out_dir, 'refcoco')
    files = write_image_files(gref_root, write_images, rng)
    instances, split_of, usable = build_instances(plan, files, rng)
    grefs = build_grefs(plan, instances, split_of, usable, rng)
    refs = build_refcoco(plan, instances, split_of, usable, rng)

    with open(osp.join(gref_root, INSTANCES_FILE), 'w') as f:
        json.dump(instances, f, separators=(',', ':'))
    with open(osp.join(gref_root, GREFS_FILE), 'w') as f:
        json.dump(grefs, f, separators=(',', ':'))
    os.makedirs(osp.join(ref_root, IMAGE_DIR), exist_ok=True)
    shutil.copyfile(
        osp.join(gref_root, INSTANCES_FILE), osp.join(ref_root, INSTANCES_FILE)
    )
    for info in files:
        shutil.copyfile(
            osp.join(gref_root, IMAGE_DIR, info['file_name']),
            osp.join(ref_root, IMAGE_DIR, info['file_name']),
        )
    with open(osp.join(ref_root, REFS_FILE), 'wb') as f:
        pickle.dump(refs, f, protocol=2)
    return summarize(
        plan, instances, grefs, refs, out_dir, time.perf_counter() - start
    )


def summarize(plan, instances, grefs, refs, out_dir, seconds) -> Dict:
    def per_split(items, count):
        return {
            s: sum(count(r) for r in items if r['split'] == s) for s in SPLITS
        }

    gref = dict(
        refs=per_split(grefs, lambda r: 1),
        expressions=per_split(grefs, lambda r: len(r['sentences'])),
        multi_target=per_split(
            grefs, lambda r: len(r['sentences']) * (len(r['ann_id']) > 1)
        ),
        no_target=per_split(
            grefs, lambda r: len(r['sentences']) * r['no_target']
        ),
        target_objects=len(
            {a for r in grefs if not r['no_target'] for a in r['ann_id']}
        ),
    )
    ref = dict(
        refs=per_split(refs, lambda r: 1),
        expressions=per_split(refs, lambda r: len(r['sentences'])),
    )
    anns = instances['annotations']
    return dict(
        out_dir=out_dir,
        seconds=seconds,
        images=len(instances['images']),
        annotations=len(anns),
        crowd=sum(a['iscrowd'] for a in anns),
        polygons=sum(len(a['segmentation']) for a in anns if not a['iscrowd']),
        vertices=sum(
            len(p) // 2
            for a in anns
            if not a['iscrowd']
            for p in a['segmentation']
        ),
        grefcoco=gref,
        refcoco=ref,
        file_mb={
            name: osp.getsize(osp.join(out_dir, name)) / 2**20
            for name in (
                osp.join('grefcoco', INSTANCES_FILE),
                osp.join('grefcoco', GREFS_FILE),
                osp.join('refcoco', REFS_FILE),
            )
        },
    )


def format_summary(s: Dict) -> str:
    g, r = s['grefcoco'], s['refcoco']
    lines = [
        f'instances.json: {s["images"]} images, {s["annotations"]} '
        f'annotations ({s["crowd"]} crowd, RLE), {s["polygons"]} polygons, '
        f'{s["vertices"]} vertices',
        f'gRefCOCO: {sum(g["expressions"].values())} expressions, '
        f'{sum(g["multi_target"].values())} multi-target, '
        f'{sum(g["no_target"].values())} no-target, '
        f'{sum(g["refs"].values())} refs, {g["target_objects"]} distinct '
        'target objects',
        f'RefCOCO: {sum(r["expressions"].values())} expressions, '
        f'{sum(r["refs"].values())} refs',
        '| split | gRefCOCO refs | expressions | multi | no-target '
        '| RefCOCO refs | expressions |',
        '| --- | --- | --- | --- | --- | --- | --- |',
    ]
    for sp in SPLITS:
        lines.append(
            f'| {sp} | {g["refs"][sp]} | {g["expressions"][sp]} '
            f'| {g["multi_target"][sp]} | {g["no_target"][sp]} '
            f'| {r["refs"][sp]} | {r["expressions"][sp]} |'
        )
    lines.append(
        'files (MiB): '
        + ', '.join(f'{k} {v:.1f}' for k, v in s['file_mb'].items())
    )
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write gRefCOCO and RefCOCO annotation files at the '
        "release's real size (random content)"
    )
    parser.add_argument(
        '--out-dir',
        default='data/realscale',
        help='output root; grefcoco/ and refcoco/ are written under it '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--scale',
        type=float,
        default=1.0,
        help='fraction of the real counts, e.g. 0.001 for tests '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)'
    )
    parser.add_argument(
        '--write-images',
        type=int,
        default=64,
        help='distinct image files, shared by the image records '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--summary-json', help='also write the summary to this JSON file'
    )
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error('--scale must be in (0, 1]')
    if args.write_images < 1:
        parser.error('--write-images must be >= 1')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    summary = generate(args.out_dir, args.scale, args.seed, args.write_images)
    print(f'[mmgres] wrote {args.out_dir} in {summary["seconds"]:.1f} s')
    print(format_summary(summary))
    if args.summary_json:
        with open(args.summary_json, 'w') as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
