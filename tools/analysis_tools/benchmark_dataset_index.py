# Copyright (c) mmgres contributors. All rights reserved.
"""Time and memory of indexing gRefCOCO / RefCOCO beside mmdet's CocoDataset.

Reads the files of
``tools/dataset_converters/generate_realscale_refer.py`` (at the release's
real size by default) and measures, for each dataset:

- ``build``: building it (``full_init``: reading the files, parsing,
  ``serialize_data``): wall time, the RSS it leaves behind (delta over
  the RSS before, after ``gc.collect()``), the peak RSS while building
  (delta) and the size of the serialized annotations;
- ``workers``: a ``DataLoader`` with ``--workers`` forked workers over the
  built dataset with an identity pipeline (the samples' annotation dicts,
  no image decoded) and a random sampler; once each worker has produced
  about ``--samples-per-worker`` samples, every worker's USS (its private
  pages: ``Private_Clean + Private_Dirty``) and PSS (private pages plus its
  share of the pages it shares) from ``/proc/<pid>/smaps_rollup``.

Each measurement runs in its own Python process, so that one's allocations
do not hide the next; the ``build`` runs are interleaved (round after
round, the order rotated). Before measuring, each process registers every
mmgres module as ``tools/train.py`` does (``--minimal-imports``: the
dataset modules only). Datasets:

- ``coco``: mmdet's ``CocoDataset`` on ``grefcoco/instances.json``, every
  image a sample (the baseline of the ratios);
- ``grefcoco``: ``GRefCOCODataset``, ``train`` split, one sample per
  sentence, on the same ``instances.json`` plus ``grefs(unc).json``;
- ``refcoco``: ``RefCOCODataset``, ``train`` split, one sample per
  sentence (``refs(unc).p`` plus the same instances);
- ``refcoco-random``: the same with ``text_mode='random'`` (one sample
  per ref, as ``configs/_base_/datasets/refcoco.py`` trains);
- ``grefcoco-context``: ``GRefCOCODataset`` with ``with_context=True``.

Example::

    python tools/dataset_converters/generate_realscale_refer.py \\
        --out-dir data/realscale
    python tools/analysis_tools/benchmark_dataset_index.py \\
        --data-root data/realscale --out index.json
"""

import argparse
import gc
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

DATASETS = (
    'coco',
    'grefcoco',
    'refcoco',
    'refcoco-random',
    'grefcoco-context',
)
DEFAULT_DATASETS = ('coco', 'grefcoco', 'refcoco')
STEPS = ('build', 'workers')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time and memory of building referring datasets beside '
        "mmdet's CocoDataset"
    )
    parser.add_argument(
        '--data-root',
        default='data/realscale',
        help='output root of generate_realscale_refer.py, holding '
        'grefcoco/ and refcoco/ (default: %(default)s)',
    )
    parser.add_argument(
        '--datasets',
        nargs='+',
        choices=DATASETS,
        default=list(DEFAULT_DATASETS),
        help='datasets to measure; coco is the baseline of the ratios '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='interleaved rounds of build measurements; the median is '
        'reported (default: %(default)s)',
    )
    parser.add_argument(
        '--workers',
        type=int,
        default=4,
        help='dataloader workers; 0 skips the worker measurement '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--samples-per-worker',
        type=int,
        default=2000,
        help='samples each worker produces before its memory is read '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=8,
        help='dataloader batch size (default: %(default)s)',
    )
    parser.add_argument(
        '--no-serialize',
        action='store_true',
        help='build the datasets with serialize_data=False',
    )
    parser.add_argument(
        '--minimal-imports',
        action='store_true',
        help='import only the dataset modules before measuring; by default '
        'every mmgres module is registered first, as tools/train.py does '
        'before it builds the dataloaders (a larger heap for the garbage '
        'collector to traverse)',
    )
    parser.add_argument('--out', help='also write the results to this JSON')
    parser.add_argument('--step', choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument('--dataset', choices=DATASETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error('--repeats must be >= 1')
    return args


# ----------------------------------------------------------------------
# Memory readings
# ----------------------------------------------------------------------
def _status_kb(key: str, pid='self') -> int:
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def rss_mb() -> float:
    return _status_kb('VmRSS') / 1024


def reset_peak() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def smaps_mb(pid) -> dict:
    """RSS, PSS and USS (private clean + dirty) of a process, in MiB."""
    fields = dict.fromkeys(('Rss', 'Pss', 'Private_Clean', 'Private_Dirty'), 0)
    path = f'/proc/{pid}/smaps_rollup'
    if not osp.exists(path):  # kernels before 4.14
        path = f'/proc/{pid}/smaps'
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key in fields:
                fields[key] += int(rest.split()[0])
    return dict(
        rss=fields['Rss'] / 1024,
        pss=fields['Pss'] / 1024,
        uss=(fields['Private_Clean'] + fields['Private_Dirty']) / 1024,
    )


# ----------------------------------------------------------------------
# One measurement (in its own process)
# ----------------------------------------------------------------------
def build_dataset(name: str, data_root: str, serialize: bool):
    from mmdet.datasets import CocoDataset

    from mmgres.datasets import GRefCOCODataset, RefCOCODataset

    gref_root = osp.join(data_root, 'grefcoco')
    ref_root = osp.join(data_root, 'refcoco')
    common = dict(pipeline=[], serialize_data=serialize)
    if name == 'coco':
        return CocoDataset(
            data_root=gref_root,
            ann_file='instances.json',
            data_prefix=dict(img='images/train2014/'),
            **common,
        )
    refer = dict(
        split='train',
        data_prefix=dict(img_path='images/train2014/'),
        **common,
    )
    if name.startswith('grefcoco'):
        return GRefCOCODataset(
            data_root=gref_root,
            with_context=name == 'grefcoco-context',
            **refer,
        )
    return RefCOCODataset(
        data_root=ref_root,
        text_mode='random' if name == 'refcoco-random' else 'all',
        **refer,
    )


def serialized_mb(dataset) -> float:
    """The numpy arrays a serialized dataset keeps (its annotations)."""
    import numpy as np

    return (
        sum(
            v.nbytes
            for v in vars(dataset).values()
            if isinstance(v, np.ndarray)
        )
        / 2**20
    )


def _count(batch) -> int:
    return len(batch)


def prepare(args) -> None:
    """Import what a training process has imported when it builds its
    dataloaders (imports are not measured)."""
    import mmdet.datasets  # noqa: F401

    import mmgres.datasets  # noqa: F401

    if not args.minimal_imports:
        from mmgres.utils import register_all_modules

        register_all_modules(init_default_scope=False)


def measure_build(args) -> dict:
    prepare(args)
    gc.collect()
    before = rss_mb()
    resettable = reset_peak()
    start = time.perf_counter()
    dataset = build_dataset(
        args.dataset, args.data_root, not args.no_serialize
    )
    seconds = time.perf_counter() - start
    peak = _status_kb('VmHWM') / 1024 if resettable else float('nan')
    gc.collect()
    return dict(
        dataset=args.dataset,
        samples=len(dataset),
        seconds=seconds,
        rss_delta_mb=rss_mb() - before,
        peak_delta_mb=peak - before,
        serialized_mb=serialized_mb(dataset),
    )


def measure_workers(args) -> dict:
    import torch
    from torch.utils.data import DataLoader, RandomSampler

    prepare(args)
    dataset = build_dataset(
        args.dataset, args.data_root, not args.no_serialize
    )
    gc.collect()
    total = args.workers * args.samples_per_worker
    sampler = RandomSampler(
        dataset,
        replacement=True,
        num_samples=total + 100 * args.batch_size,
        generator=torch.Generator().manual_seed(0),
    )
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=sampler,
        num_workers=args.workers,
        collate_fn=_count,
        multiprocessing_context='fork',
    )
    iterator = iter(loader)
    seen = 0
    while seen < total:
        seen += next(iterator)
    workers = [smaps_mb(w.pid) for w in iterator._workers]
    main = smaps_mb(os.getpid())
    del iterator
    return dict(
        dataset=args.dataset,
        samples_read=seen,
        worker_uss_mb=statistics.mean(w['uss'] for w in workers),
        worker_pss_mb=statistics.mean(w['pss'] for w in workers),
        worker_rss_mb=statistics.mean(w['rss'] for w in workers),
        main_uss_mb=main['uss'],
        main_pss_mb=main['pss'],
    )


def run_child(args, step: str, dataset: str) -> dict:
    cmd = [
        sys.executable,
        osp.abspath(__file__),
        '--step',
        step,
        '--dataset',
        dataset,
        '--data-root',
        args.data_root,
        '--workers',
        str(args.workers),
        '--samples-per-worker',
        str(args.samples_per_worker),
        '--batch-size',
        str(args.batch_size),
    ]
    if args.no_serialize:
        cmd.append('--no-serialize')
    if args.minimal_imports:
        cmd.append('--minimal-imports')
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f'{step} {dataset} failed (exit {proc.returncode}):\n'
            + proc.stderr[-3000:]
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------
BUILD_KEYS = ('seconds', 'rss_delta_mb', 'peak_delta_mb', 'serialized_mb')
WORKER_KEYS = ('worker_uss_mb', 'worker_pss_mb')


def summarize(builds, workers, baseline: str = 'coco') -> dict:
    """Medians of the build runs, the worker readings and the ratios to
    ``baseline``."""
    results = {}
    for name, runs in builds.items():
        row = dict(samples=runs[0]['samples'], runs=runs)
        for key in BUILD_KEYS:
            row[key] = statistics.median(r[key] for r in runs)
        if name in workers:
            row.update({k: workers[name][k] for k in WORKER_KEYS})
        results[name] = row
    base = results.get(baseline)
    if base is not None:
        for row in results.values():
            row['ratios'] = {
                k: row[k] / base[k]
                for k in BUILD_KEYS + WORKER_KEYS
                if k in row and k in base and base[k] > 0
            }
    return results


def format_table(results: dict) -> str:
    lines = [
        '| dataset | samples | build (s) | RSS after (MiB) | peak (MiB) '
        '| serialized (MiB) | worker USS (MiB) | worker PSS (MiB) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]

    def cell(row, key, fmt):
        if key not in row:
            return '-'
        text = format(row[key], fmt)
        ratio = row.get('ratios', {}).get(key)
        return text if ratio is None else f'{text} ({ratio:.2f}x)'

    for name, row in results.items():
        lines.append(
            f'| {name} | {row["samples"]} | {cell(row, "seconds", ".1f")} '
            f'| {cell(row, "rss_delta_mb", ".0f")} '
            f'| {cell(row, "peak_delta_mb", ".0f")} '
            f'| {cell(row, "serialized_mb", ".1f")} '
            f'| {cell(row, "worker_uss_mb", ".1f")} '
            f'| {cell(row, "worker_pss_mb", ".1f")} |'
        )
    lines.append('(x: ratio to coco, the median of the interleaved rounds)')
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.step is not None:
        measure = measure_build if args.step == 'build' else measure_workers
        print(json.dumps(measure(args)))
        return
    for name in ('grefcoco', 'refcoco'):
        if not osp.isdir(osp.join(args.data_root, name)):
            sys.exit(
                f'{args.data_root}/{name} not found; write it with '
                'tools/dataset_converters/generate_realscale_refer.py '
                f'--out-dir {args.data_root}'
            )
    names = list(dict.fromkeys(args.datasets))
    builds = {n: [] for n in names}
    for r in range(args.repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            result = run_child(args, 'build', name)
            builds[name].append(result)
            print(
                f'round {r + 1} build {name}: {result["seconds"]:.1f} s, '
                f'RSS +{result["rss_delta_mb"]:.0f} MiB',
                flush=True,
            )
    workers = {}
    if args.workers > 0:
        for name in names:
            workers[name] = run_child(args, 'workers', name)
            print(
                f'workers {name}: USS '
                f'{workers[name]["worker_uss_mb"]:.1f} MiB',
                flush=True,
            )
    results = summarize(builds, workers)
    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    data_root=args.data_root,
                    workers=args.workers,
                    samples_per_worker=args.samples_per_worker,
                    serialize_data=not args.no_serialize,
                    minimal_imports=args.minimal_imports,
                    results=results,
                ),
                f,
                indent=2,
            )


if __name__ == '__main__':
    main()
