# Copyright (c) mmgres contributors. All rights reserved.
"""Generate the synthetic gRefCOCO-format benchmark.

Defaults (suited to tiny CPU models): 128x128 images; 1500 train, 150 val,
150 testA and 150 testB images; 3-4 sentences per image; 30% multi-target
and 12% no-target sentences per split. ``train`` and ``val`` scenes hold
2-6 objects, ``testA`` sparse scenes of 2-4 and ``testB`` crowded scenes of
5-6 (more touching and occlusion).

Every image draws from its own random generator seeded by
``(seed, split, index)``, so an image does not change when the size of
another split does; the output is byte-identical for the same arguments.
"""

import glob
import json
import os
import os.path as osp
import time
from typing import Dict, Optional, Tuple, Union

import numpy as np

from .expressions import GrammarConfig, enumerate_expressions
from .sampler import CATEGORIES, MixBalancer, category_of, select_refs
from .scene import SceneConfig, compute_masks, paint_scene, sample_scene
from .writer import (
    CATEGORY_IDS,
    GREFS_FILE,
    IMAGE_DIR,
    INSTANCES_FILE,
    REFCOCO_DIR,
    REFCOCO_REFS_FILE,
    BenchmarkWriter,
    encode_segmentation,
)

SPLITS: Tuple[str, ...] = ('train', 'val', 'testA', 'testB')
DEFAULT_NUM_IMAGES: Dict[str, int] = dict(
    train=1500, val=150, testA=150, testB=150
)
#: Objects per scene, per split.
SPLIT_NUM_OBJECTS: Dict[str, Tuple[int, int]] = dict(
    train=(2, 6), val=(2, 6), testA=(2, 4), testB=(5, 6)
)
ARGS_FILE = 'generation_args.json'
#: Bumped whenever the output for the same arguments changes.
GENERATOR_VERSION = 1
# Segmentation encodings of unoccluded objects and their probabilities
# (occluded objects use the two RLE encodings only).
_STYLES = ('polygon', 'rle', 'rle_list')
_STYLE_PROBS = (0.5, 0.25, 0.25)


def _num_images(
    num_images: Union[None, int, Dict[str, int]],
) -> Dict[str, int]:
    if num_images is None:
        return dict(DEFAULT_NUM_IMAGES)
    if isinstance(num_images, int):
        return dict.fromkeys(SPLITS, num_images)
    unknown = set(num_images) - set(SPLITS)
    if unknown:
        raise ValueError(
            f'unknown splits {sorted(unknown)}; expected {SPLITS}'
        )
    return {s: int(num_images.get(s, 0)) for s in SPLITS}


def _load_args(out_dir: str) -> Optional[Dict]:
    path = osp.join(out_dir, ARGS_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _outputs_exist(out_dir: str, num_images: int) -> bool:
    """The annotation files and all ``num_images`` images are there."""
    files = (
        (GREFS_FILE,),
        (INSTANCES_FILE,),
        (REFCOCO_DIR, REFCOCO_REFS_FILE),
    )
    if not all(osp.isfile(osp.join(out_dir, *p)) for p in files):
        return False
    images = glob.glob(osp.join(out_dir, IMAGE_DIR, 'synthetic_*'))
    return len(images) == num_images


def _split_summary(stats: Dict) -> Dict:
    sents = max(stats['sentences'], 1)
    refs = max(stats['refs'], 1)
    out = dict(stats)
    out['multi_target_pct'] = round(100 * stats['multi'] / sents, 2)
    out['no_target_pct'] = round(100 * stats['none'] / sents, 2)
    out['multi_target_ref_pct'] = round(100 * stats['multi_refs'] / refs, 2)
    out['no_target_ref_pct'] = round(100 * stats['none_refs'] / refs, 2)
    return out


def generate_synthetic_grefcoco(
    out_dir: str,
    num_images: Union[None, int, Dict[str, int]] = None,
    img_size: int = 128,
    seed: int = 0,
    sentences_per_image: Tuple[int, int] = (3, 4),
    multi_fraction: float = 0.30,
    no_target_fraction: float = 0.12,
    img_format: str = 'jpg',
    progress: bool = True,
    force: bool = False,
) -> Dict:
    """Generate (or find up to date) the synthetic benchmark in ``out_dir``.

    Args:
        out_dir (str): Output root (``data/synthetic_grefcoco`` in configs).
        num_images (int | dict, optional): Images per split. A dict maps
            split names (``train``, ``val``, ``testA``, ``testB``) to counts
            (missing splits get 0); an int gives every split that many.
            Defaults to :data:`DEFAULT_NUM_IMAGES`.
        img_size (int): Width and height of the images.
        seed (int): Random seed.
        sentences_per_image (tuple[int, int]): Inclusive range.
        multi_fraction (float): Target share of multi-target sentences.
        no_target_fraction (float): Target share of no-target sentences.
        img_format (str): ``'jpg'`` or ``'png'``.
        progress (bool): Show an mmengine progress bar.
        force (bool): Regenerate even if ``out_dir`` holds a benchmark made
            with the same arguments.

    Returns:
        dict: ``out_dir``, ``skipped`` (True when the existing output was
        up to date), ``args``, ``seconds`` and ``splits``: per split the
        counts of images, annotations, refs, sentences, their
        single/multi/none categories and the multi-/no-target percentages
        over sentences (``*_pct``) and over refs (``*_ref_pct``).
    """
    counts = _num_images(num_images)
    args = dict(
        num_images=counts,
        img_size=int(img_size),
        seed=int(seed),
        sentences_per_image=[int(v) for v in sentences_per_image],
        multi_fraction=float(multi_fraction),
        no_target_fraction=float(no_target_fraction),
        img_format=img_format,
        version=GENERATOR_VERSION,
    )
    if img_size < 32:
        raise ValueError(f'img_size must be at least 32, got {img_size}')
    lo_s, hi_s = args['sentences_per_image']
    if not 1 <= lo_s <= hi_s:
        raise ValueError(
            'sentences_per_image must be a range (lo, hi) with '
            f'1 <= lo <= hi, got {sentences_per_image}'
        )
    old = _load_args(out_dir)
    if (
        not force
        and old is not None
        and old.get('args') == args
        and _outputs_exist(out_dir, sum(counts.values()))
    ):
        return dict(old, out_dir=out_dir, skipped=True, seconds=0.0)

    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    if osp.exists(osp.join(out_dir, ARGS_FILE)):
        os.remove(osp.join(out_dir, ARGS_FILE))
    for stale in glob.glob(osp.join(out_dir, IMAGE_DIR, 'synthetic_*')):
        os.remove(stale)
    writer = BenchmarkWriter(out_dir, img_format=img_format)
    grammar = GrammarConfig()
    bar = None
    if progress:
        from mmengine.utils import ProgressBar

        bar = ProgressBar(sum(counts.values()))
    ids = dict(image=0, ann=0, ref=0, sent=0)
    splits = {}
    for split_idx, split in enumerate(SPLITS):
        cfg = SceneConfig(
            img_size=img_size, num_objects=SPLIT_NUM_OBJECTS[split]
        )
        balancer = MixBalancer(multi_fraction, no_target_fraction)
        stats = dict(
            images=0,
            annotations=0,
            hidden_objects=0,
            refs=0,
            sentences=0,
            multi_refs=0,
            none_refs=0,
            **dict.fromkeys(CATEGORIES, 0),
        )
        for index in range(counts[split]):
            rng = np.random.default_rng([seed, split_idx, index])
            _generate_image(
                writer,
                split,
                rng,
                cfg,
                grammar,
                balancer,
                ids,
                stats,
                (lo_s, hi_s),
            )
            if bar is not None:
                bar.update()
        splits[split] = _split_summary(stats)
    if bar is not None:
        print()
    writer.write()
    record = dict(args=args, splits=splits)
    with open(osp.join(out_dir, ARGS_FILE), 'w') as f:
        json.dump(record, f, indent=2)
    return dict(
        record,
        out_dir=out_dir,
        skipped=False,
        seconds=round(time.perf_counter() - start, 2),
    )


def _generate_image(
    writer: BenchmarkWriter,
    split: str,
    rng: np.random.Generator,
    cfg: SceneConfig,
    grammar: GrammarConfig,
    balancer: MixBalancer,
    ids: Dict[str, int],
    stats: Dict,
    sent_range: Tuple[int, int],
) -> None:
    """Sample, draw and annotate one image; append it to ``writer``."""
    for _ in range(20):  # a scene needs two referable objects
        scene = sample_scene(rng, cfg)
        full, visible = compute_masks(
            scene, cfg.min_visible_fraction, cfg.min_visible_pixels
        )
        if sum(o.referable for o in scene.objects) >= 2:
            break
    expressions = enumerate_expressions(scene, rng, grammar)
    num_sent = int(rng.integers(sent_range[0], sent_range[1] + 1))
    drafts = select_refs(expressions, rng, balancer, num_sent)
    image = paint_scene(scene, full, rng, cfg.noise_std)

    ids['image'] += 1
    image_id = ids['image']
    file_name = writer.add_image(image_id, split, image)
    ann_ids, objects = [], []
    for obj, v in zip(scene.objects, visible):
        ids['ann'] += 1
        occluded = obj.visible_area < obj.full_area
        style = str(rng.choice(_STYLES, p=_STYLE_PROBS))
        writer.add_annotation(
            ids['ann'],
            image_id,
            obj.shape,
            v,
            encode_segmentation(v, obj.polygon(), occluded, style),
        )
        ann_ids.append(ids['ann'])
        objects.append(
            dict(
                ann_id=ids['ann'],
                shape=obj.shape,
                colour=obj.colour,
                size=obj.size,
                cx=obj.cx,
                cy=obj.cy,
                radius=obj.radius,
                rgb=list(obj.rgb),
                full_area=obj.full_area,
                visible_area=obj.visible_area,
                referable=obj.referable,
            )
        )
    sentence_meta = []
    for draft in drafts:
        ids['ref'] += 1
        sentences = []
        for expr in draft.expressions:
            ids['sent'] += 1
            sentences.append(
                dict(
                    tokens=expr.text.split(),
                    raw=expr.text[0].upper() + expr.text[1:],
                    sent_id=ids['sent'],
                    sent=expr.text,
                )
            )
            sentence_meta.append(
                dict(sent_id=ids['sent'], ref_id=ids['ref'], kind=expr.kind)
            )
        targets = [ann_ids[i] for i in draft.referents]
        writer.add_ref(
            ids['ref'],
            image_id,
            split,
            file_name,
            targets,
            [CATEGORY_IDS[scene.objects[i].shape] for i in draft.referents],
            sentences,
        )
        cat = category_of(draft.referents)
        stats[cat] += len(sentences)
        stats['refs'] += 1
        stats['sentences'] += len(sentences)
        stats['multi_refs'] += cat == 'multi'
        stats['none_refs'] += cat == 'none'
    writer.add_scene(
        dict(
            image_id=image_id,
            file_name=file_name,
            split=split,
            background=scene.background,
            objects=objects,
            sentences=sentence_meta,
        )
    )
    stats['images'] += 1
    stats['annotations'] += len(ann_ids)
    stats['hidden_objects'] += sum(not o.referable for o in scene.objects)


def format_summary(summary: Dict) -> str:
    """A plain-text table of a :func:`generate_synthetic_grefcoco` summary.

    Percentages are over sentences, with the share over refs in brackets.
    """
    head = (
        f'{"split":<6} {"images":>6} {"objects":>7} {"refs":>6} '
        f'{"sents":>6} {"multi-target %":>15} {"no-target %":>14}'
    )
    lines = [head, '-' * len(head)]
    total = dict(images=0, annotations=0, refs=0, sentences=0, multi=0, none=0)
    for split, s in summary['splits'].items():
        for key in total:
            total[key] += s[key]
        multi = (
            f'{s["multi_target_pct"]:.1f} ({s["multi_target_ref_pct"]:.1f})'
        )
        none = f'{s["no_target_pct"]:.1f} ({s["no_target_ref_pct"]:.1f})'
        lines.append(
            f'{split:<6} {s["images"]:>6} {s["annotations"]:>7} '
            f'{s["refs"]:>6} {s["sentences"]:>6} {multi:>15} '
            f'{none:>14}'
        )
    sents = max(total['sentences'], 1)
    lines.append(
        f'{"all":<6} {total["images"]:>6} {total["annotations"]:>7} '
        f'{total["refs"]:>6} {total["sentences"]:>6} '
        f'{100 * total["multi"] / sents:>15.1f} '
        f'{100 * total["none"] / sents:>14.1f}'
    )
    lines.append('(% of sentences; in brackets, % of refs)')
    return '\n'.join(lines)
