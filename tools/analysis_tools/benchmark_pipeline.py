# Copyright (c) mmgres contributors. All rights reserved.
"""Samples per second of the referring training pipelines beside mmdet's
instance-segmentation pipeline, on the same images and objects.

    python tools/analysis_tools/benchmark_pipeline.py
        [--data-root DIR] [--img-prefix images/train2014/] [--split train]
        [--pipelines instalign igvg raam gsva gsva-release]
        [--num-images 60] [--img-size 640] [--rounds 3] [--chunk 10]
        [--profile 25] [--out-json FILE]

One process, no DataLoader: what one DataLoader worker does per sample
(``get_data_info`` and every transform, as ``dataset[i]`` does), with
OpenCV and torch on one thread as in mmengine's workers. For each model's
gRefCOCO training pipeline (its config's ``train_dataloader``), three
runners over the same images:

- ``mmgres``: ``GRefCOCODataset`` with the model's pipeline, every
  sentence (or, with ``text_mode='random'``, every ref) of the images;
  it decodes the masks of the sentence's **targets** only;
- ``mmdet_targets``: the same samples (the same targets) through mmdet's
  ``LoadImageFromFile``, ``LoadAnnotations(with_bbox=True,
  with_mask=True)``, the same ``Resize``, ``RandomFlip(prob=0)`` and
  ``PackDetInputs``: the same work as mmdet's, so the ratio is the cost of
  the referring transforms themselves (merged mask, text, metainfo);
- ``mmdet_coco``: mmdet's ``CocoDataset`` over the same ``instances.json``
  and images with that mmdet pipeline: one sample per image, decoding
  **every** object of the image.

``mmgres`` transforms that mmdet has no counterpart of (GSVA's
``CLIPImageInput``) are left out of the mmdet pipelines: they are work
mmdet's pipeline does not do. The runners are interleaved chunk by chunk
(``--chunk`` images, rotating which goes first), after an untimed pass
that also warms the page cache. Reported per runner: the samples and
objects (decoded masks) timed over all rounds, samples/s, objects/s, ms
per sample by step, and the ratios ``mmgres / mmdet``.

Without ``--data-root`` the synthetic gRefCOCO generator writes
``--num-images`` train images of ``--img-size`` pixels (JPEG) to a
temporary folder first; a data root in the official layout
(``grefs(unc).json``, ``instances.json``, ``images/train2014/``) is read
as it is. ``--profile N`` also prints cProfile's N most expensive
functions (own time) of each ``mmgres`` runner.
"""

import argparse
import copy
import cProfile
import io
import json
import os.path as osp
import pstats
import tempfile
import time
from collections import defaultdict
from typing import Dict, List, Optional

#: Model name -> the config whose training pipeline is measured.
PIPELINES = {
    'instalign': 'configs/instalign/instalign_swin-b_bert-base_4xb8-20e_'
    'grefcoco.py',
    'igvg': 'configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco.py',
    'raam': 'configs/raam/raam_vit-b_bert-base_2xb8-60e_grefcoco.py',
    'gsva': 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py',
    'gsva-release': 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_'
    'grefcoco_release.py',
}
RUNNERS = ('mmgres', 'mmdet_targets', 'mmdet_coco')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Throughput of the referring training pipelines beside '
        "mmdet's instance-segmentation pipeline"
    )
    parser.add_argument(
        '--data-root',
        help='gRefCOCO-layout folder (grefs(unc).json, instances.json, '
        'images); default: generate a synthetic one in a temporary folder',
    )
    parser.add_argument(
        '--img-prefix',
        help='image folder under the data root; default: images/train2014/ '
        'when it exists, else images/',
    )
    parser.add_argument(
        '--refs-file',
        default='grefs(unc).json',
        help='refs file under the data root (default: %(default)s)',
    )
    parser.add_argument(
        '--split',
        default='train',
        help='refs split whose images are used (default: %(default)s)',
    )
    parser.add_argument(
        '--pipelines',
        nargs='+',
        choices=sorted(PIPELINES),
        default=list(PIPELINES),
        help='the models whose training pipelines are measured (default: all)',
    )
    parser.add_argument(
        '--num-images',
        type=int,
        default=60,
        help='images measured, the first of the split (default: %(default)s)',
    )
    parser.add_argument(
        '--img-size',
        type=int,
        default=640,
        help='side of the generated images, without --data-root '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the generated data and of text_mode=random '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--rounds',
        type=int,
        default=3,
        help='timed passes over the images (default: %(default)s)',
    )
    parser.add_argument(
        '--chunk',
        type=int,
        default=10,
        help='images per interleaving step (default: %(default)s)',
    )
    parser.add_argument(
        '--profile',
        type=int,
        default=0,
        metavar='N',
        help="print cProfile's N most expensive functions (own time) of "
        'each mmgres pipeline (default: 0, no profile)',
    )
    parser.add_argument(
        '--out-json', help='also write the results to this JSON file'
    )
    args = parser.parse_args(argv)
    for name in ('num_images', 'rounds', 'chunk'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def referring_dataset_cfg(config: str) -> dict:
    """The referring dataset config of ``config``'s training dataloader
    (inside any dataset wrapper)."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(REPO, config))
    ds = cfg.train_dataloader.dataset
    while 'dataset' in ds:
        ds = ds.dataset
    if 'datasets' in ds:
        ds = ds.datasets[0]
    return ds.to_dict()


def mmdet_pipeline(pipeline: List[dict]) -> list:
    """mmdet's instance-segmentation counterpart of a referring pipeline:
    the same loading options and ``Resize``, mmdet's annotations, a flip
    of probability 0 (or the pipeline's own flip) and ``PackDetInputs``.
    Transforms without a counterpart are left out."""
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets.transforms import (
        LoadAnnotations,
        PackDetInputs,
        RandomFlip,
        Resize,
    )

    out, flip = [], None
    for t in pipeline:
        t = dict(t)
        kind = t.pop('type')
        if kind == 'LoadImageFromFile':
            out.append(LoadImageFromFile(**t))
        elif kind == 'LoadReferringAnnotations':
            out.append(LoadAnnotations(with_bbox=True, with_mask=True))
        elif kind == 'Resize':
            out.append(Resize(**t))
        elif kind == 'RandomFlip':
            flip = RandomFlip(**t)
            out.append(flip)
        elif kind == 'PackReferringInputs':
            if flip is None:
                out.append(RandomFlip(prob=0.0))
            out.append(PackDetInputs())
    return out


class Runner:
    """Times ``get_data_info`` and each transform of one dataset.

    Args:
        name (str): Runner name.
        get_info (callable): Index -> the sample's data info.
        transforms (list): Built transforms, applied in order.
    """

    def __init__(self, name: str, get_info, transforms: list) -> None:
        self.name = name
        self.get_info = get_info
        self.transforms = transforms
        self.seconds: Dict[str, float] = defaultdict(float)
        self.samples = 0
        self.objects = 0

    def run(self, indices, timed: bool = True) -> None:
        """Load and transform the samples ``indices``, timing each step
        when ``timed``."""
        clock = time.perf_counter
        steps = [(type(t).__name__, t) for t in self.transforms]
        for idx in indices:
            t0 = clock()
            data = self.get_info(idx)
            t1 = clock()
            objects = len(data.get('instances', []))
            if timed:
                self.seconds['data_info'] += t1 - t0
            for name, transform in steps:
                t0 = clock()
                data = transform(data)
                t1 = clock()
                if timed:
                    self.seconds[name] += t1 - t0
            if timed:
                self.samples += 1
                self.objects += objects

    def result(self) -> dict:
        total = sum(self.seconds.values())
        return dict(
            samples=self.samples,
            objects=self.objects,
            seconds=round(total, 4),
            samples_per_s=round(self.samples / total, 2),
            objects_per_s=round(self.objects / total, 2),
            ms_per_sample={
                k: round(1000 * v / self.samples, 3)
                for k, v in self.seconds.items()
            },
        )


def prepare_data(args: argparse.Namespace, tmp: str) -> dict:
    """The data root to read (generated when none is given) and its image
    prefix."""
    root = args.data_root
    generated = root is None
    if generated:
        from mmgres.datasets.synthetic import generate_synthetic_grefcoco

        root = osp.join(tmp, 'synthetic_grefcoco')
        generate_synthetic_grefcoco(
            root,
            num_images=dict(train=args.num_images),
            img_size=args.img_size,
            seed=args.seed,
            progress=False,
        )
    prefix = args.img_prefix
    if prefix is None:
        official = osp.join(root, 'images', 'train2014')
        prefix = 'images/train2014/' if osp.isdir(official) else 'images/'
    return dict(root=root, img_prefix=prefix, generated=generated)


class Datasets:
    """The datasets of one data root, each built once: the referring one
    per ``text_mode`` (with the indices of its samples of the first
    ``--num-images`` images) and mmdet's ``CocoDataset``.

    Args:
        args (argparse.Namespace): The options.
        data (dict): :func:`prepare_data`'s answer.
    """

    def __init__(self, args: argparse.Namespace, data: dict) -> None:
        self.args = args
        self.data = data
        self._refer: Dict[str, tuple] = {}
        self._coco = None

    def referring(self, text_mode: str):
        """The referring dataset and ``{img_id: [sample indices]}`` of the
        first ``--num-images`` images (in the order of their samples)."""
        if text_mode not in self._refer:
            from mmgres.datasets import GRefCOCODataset

            refer = GRefCOCODataset(
                data_root=self.data['root'],
                ann_file='instances.json',
                refs_file=self.args.refs_file,
                split=self.args.split,
                text_mode=text_mode,
                data_prefix=dict(img_path=self.data['img_prefix']),
                pipeline=[],
            )
            first: Dict[int, List[int]] = {}
            for i in range(len(refer)):
                img_id = refer.get_data_info(i)['img_id']
                if img_id in first or len(first) < self.args.num_images:
                    first.setdefault(img_id, []).append(i)
            self._refer[text_mode] = (refer, first)
        return self._refer[text_mode]

    def coco(self):
        """mmdet's ``CocoDataset`` of ``instances.json`` (every category of
        the file) and ``{img_id: index}``."""
        if self._coco is None:
            from mmdet.datasets import CocoDataset

            path = osp.join(self.data['root'], 'instances.json')
            with open(path) as f:
                categories = json.load(f)['categories']
            categories = sorted(categories, key=lambda c: c['id'])
            coco = CocoDataset(
                data_root=self.data['root'],
                ann_file='instances.json',
                data_prefix=dict(img=self.data['img_prefix']),
                metainfo=dict(classes=tuple(c['name'] for c in categories)),
                pipeline=[],
            )
            index = {
                coco.get_data_info(j)['img_id']: j for j in range(len(coco))
            }
            self._coco = (coco, index)
        return self._coco


def build_runners(name: str, args, datasets: Datasets):
    """The three runners of one model's pipeline (see the module doc), the
    sample indices of each per chunk of images, and what was measured."""
    from mmengine.registry import DefaultScope

    from mmgres.registry import TRANSFORMS

    ds_cfg = referring_dataset_cfg(PIPELINES[name])
    pipeline = ds_cfg['pipeline']
    text_mode = ds_cfg.get('text_mode', 'all')
    with DefaultScope.overwrite_default_scope('mmgres'):
        transforms = [TRANSFORMS.build(copy.deepcopy(t)) for t in pipeline]
    refer, first = datasets.referring(text_mode)
    img_ids = list(first)
    coco, coco_index = datasets.coco()
    missing = [i for i in img_ids if i not in coco_index]
    if missing:
        raise ValueError(f'images {missing[:5]} are not in instances.json')
    mmdet = mmdet_pipeline(pipeline)
    runners = dict(
        mmgres=Runner('mmgres', refer.get_data_info, transforms),
        mmdet_targets=Runner('mmdet_targets', refer.get_data_info, mmdet),
        mmdet_coco=Runner('mmdet_coco', coco.get_data_info, mmdet),
    )
    chunks = []
    for k in range(0, len(img_ids), args.chunk):
        ids = img_ids[k : k + args.chunk]
        refs = [i for img_id in ids for i in first[img_id]]
        chunks.append(
            dict(
                mmgres=refs,
                mmdet_targets=refs,
                mmdet_coco=[coco_index[i] for i in ids],
            )
        )
    meta = dict(
        config=PIPELINES[name],
        pipeline=[t['type'] for t in pipeline],
        mmdet_pipeline=[type(t).__name__ for t in mmdet],
        text_mode=text_mode,
        images=len(img_ids),
    )
    return runners, chunks, meta


def measure(name: str, args, datasets: Datasets) -> dict:
    """Interleaved timing of one model's three runners."""
    import numpy as np

    runners, chunks, meta = build_runners(name, args, datasets)
    np.random.seed(args.seed)
    for chunk in chunks:  # untimed: imports, caches, page cache
        for key, runner in runners.items():
            runner.run(chunk[key], timed=False)
    step = 0
    for _ in range(args.rounds):
        for chunk in chunks:
            k = step % len(RUNNERS)
            for key in RUNNERS[k:] + RUNNERS[:k]:
                runners[key].run(chunk[key])
            step += 1
    out = dict(meta, **{k: r.result() for k, r in runners.items()})
    ours = out['mmgres']
    for base in ('mmdet_targets', 'mmdet_coco'):
        other = out[base]
        out[f'ratio_{base}'] = round(
            ours['samples_per_s'] / other['samples_per_s'], 3
        )
        if ours['objects'] and other['objects']:
            out[f'ratio_{base}_per_object'] = round(
                ours['objects_per_s'] / other['objects_per_s'], 3
            )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for chunk in chunks:
            runners['mmgres'].run(chunk['mmgres'], timed=False)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats('tottime').print_stats(args.profile)
        out['profile'] = text.getvalue()
    return out


def format_results(results: dict) -> str:
    """A Markdown table of the runners of every pipeline, then the ms per
    sample of each transform."""
    lines = [
        '| pipeline | runner | samples | objects/sample | samples/s | '
        'objects/s | mmgres/this samples/s | mmgres/this objects/s |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for name, r in results['pipelines'].items():
        for key in RUNNERS:
            x = r[key]
            ratio = r.get(f'ratio_{key}', '')
            per_obj = r.get(f'ratio_{key}_per_object', '')
            lines.append(
                f'| {name} | {key} | {x["samples"]} | '
                f'{x["objects"] / max(x["samples"], 1):.2f} | '
                f'{x["samples_per_s"]:.1f} | {x["objects_per_s"]:.1f} | '
                f'{ratio} | {per_obj} |'
            )
    lines.append('')
    lines.append('ms per sample, by step:')
    for name, r in results['pipelines'].items():
        for key in RUNNERS:
            steps = ', '.join(
                f'{k} {v:.2f}' for k, v in r[key]['ms_per_sample'].items()
            )
            lines.append(f'  {name} {key}: {steps}')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    import cv2
    import torch

    import mmgres.datasets  # noqa: F401 (registers the transforms)

    # what mmengine sets up for its dataloader workers
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(args, tmp)
        results = dict(
            data=dict(
                data_root=args.data_root or '(generated)',
                img_prefix=data['img_prefix'],
                split=args.split,
                img_size=args.img_size if data['generated'] else None,
            ),
            rounds=args.rounds,
            pipelines={},
        )
        datasets = Datasets(args, data)
        for name in args.pipelines:
            results['pipelines'][name] = measure(name, args, datasets)
    print(format_results(results))
    for name, r in results['pipelines'].items():
        if 'profile' in r:
            print(f'\ncProfile of the mmgres {name} pipeline:')
            print(r['profile'])
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
