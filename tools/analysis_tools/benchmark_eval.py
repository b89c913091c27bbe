# Copyright (c) mmgres contributors. All rights reserved.
"""Memory and time of evaluating many gRefCOCO expressions on several ranks.

Each rank (gloo on CPU, spawned with ``torch.multiprocessing``; one rank runs
in this process) takes its share of the indices as mmengine's
``DefaultSampler`` deals them (rank ``r`` gets ``r, r + W, ...``, padded to
equal shares), builds a ``DetDataSample`` per index as a grounder outputs
it, and feeds mmengine's ``Evaluator`` with the metrics of the
``test_evaluator`` of ``--configs`` (by default the gRefCOCO GRES and GREC
bases: ``GRESMetric`` and ``GRECMetric``). A sample has, at ``--shape``
(the original frame):

- the packed ground truth: ``gt_instances`` (``HorizontalBoxes``, labels,
  ``BitmapMasks``), ``gt_sem_seg`` (1xHxW uint8) and the metainfo;
- the prediction: ``pred_instances`` (masks, boxes, scores, labels),
  ``pred_sem_seg`` (1xHxW bool), ``pred_no_target``, ``pred_nt_score``
  and IGVG's ``pred_points``, under the no-target contract
  (``pred_*_raw`` where the model says "no target").

Samples are made from their index alone (so one rank and two ranks see the
same data), ``--chunk-size`` at a time, so memory stays bounded. The shares
of no-target and multi-target expressions are gRefCOCO's. Reported:

- per metric, the pickled size of ``metric.results`` per sample after
  ``process`` (what ``collect_results`` gathers) and the types it holds;
- per metric, on rank 0: the pickled size of the collected results and
  the RSS delta across ``collect_results``, and the time of
  ``compute_metrics``;
- per rank: sample generation (not evaluation), ``Evaluator.process``,
  ``Evaluator.evaluate``, and the peak RSS;
- the metric values (equal for any number of ranks).

``--compare-coco`` also feeds mmdet's ``CocoMetric`` (segm) with the same
predictions (ground truth as RLE in the ``instances`` metainfo, as it
reads it without an annotation file), interleaved chunk by chunk.

Example::

    python tools/analysis_tools/benchmark_eval.py --num-samples 10000 \\
        --world-size 2 --out eval_scale.json
"""

import argparse
import gc
import json
import os
import os.path as osp
import pickle
import resource
import socket
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIGS = (
    'configs/_base_/datasets/grefcoco_gres.py',
    'configs/_base_/datasets/grefcoco_grec.py',
)
#: gRefCOCO's shares of no-target and multi-target expressions
#: (32,202 and 80,022 of 278,232; /work/shared/docs/datasets-and-metrics.md).
NO_TARGET_SHARE = 32202 / 278232
MULTI_TARGET_SHARE = 80022 / 278232
#: Ours: how often the synthetic prediction finds a target, adds a false
#: instance, and says "no target" on no-target / target expressions.
FOUND_SHARE = 0.8
FALSE_INSTANCE_SHARE = 0.15
NT_SAID_ON_NO_TARGET = 0.65
NT_SAID_ON_TARGET = 0.05
#: Ours: reference points per sample (IGVG's ``pred_points``).
NUM_POINTS = 10
#: ``collect_results`` pickles each rank's part with this protocol.
COLLECT_PROTOCOL = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Memory and time of the gRefCOCO evaluation on W ranks'
    )
    parser.add_argument(
        '--num-samples',
        type=int,
        default=10000,
        help='expressions evaluated (default: %(default)s)',
    )
    parser.add_argument(
        '--world-size',
        type=int,
        default=2,
        help='ranks (gloo, CPU); 1 runs in this process '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--configs',
        nargs='+',
        default=list(DEFAULT_CONFIGS),
        help='configs whose test_evaluator metrics are used, in order; a '
        'later metric with the same prefix replaces an earlier one '
        '(default: the gRefCOCO GRES and GREC bases)',
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=(480, 640),
        metavar=('H', 'W'),
        help='original image size, the frame of masks and boxes '
        '(default: 480 640)',
    )
    parser.add_argument(
        '--img-shape',
        type=int,
        nargs=2,
        default=(480, 480),
        metavar=('H', 'W'),
        help="img_shape of the metainfo, read by resolution='resized' "
        '(default: 480 480, the GRES base)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='samples per Evaluator.process call (default: %(default)s, '
        'as the gRefCOCO val_dataloader)',
    )
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=64,
        help='samples generated at a time per rank (default: %(default)s)',
    )
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the samples (default: %(default)s)',
    )
    parser.add_argument(
        '--compare-coco',
        action='store_true',
        help="also run mmdet's CocoMetric (segm) on the same predictions",
    )
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


# --------------------------------------------------------------- samples
def rank_indices(num_samples: int, rank: int, world_size: int) -> list:
    """The indices of one rank, dealt as mmengine's ``DefaultSampler``
    (``shuffle=False``) deals them: padded from the start to a multiple of
    ``world_size``, then every ``world_size``-th from ``rank``."""
    total = -(-num_samples // world_size) * world_size
    indices = list(range(num_samples))
    indices += indices[: total - num_samples]
    return indices[rank:total:world_size]


def random_box(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An xyxy box of 10-60% of each side, inside the image."""
    bw, bh = rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.6) * h
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return np.array([x0, y0, x0 + bw, y0 + bh], dtype=np.float32)


def jitter_box(
    rng: np.random.Generator, box: np.ndarray, h: int, w: int
) -> np.ndarray:
    """``box`` with each side moved by about 10% of the box's size."""
    size = np.array([box[2] - box[0], box[3] - box[1]] * 2, np.float32)
    out = box + rng.normal(0, 0.1, 4).astype(np.float32) * size
    out[0::2] = np.clip(out[0::2], 0, w)
    out[1::2] = np.clip(out[1::2], 0, h)
    out[2:] = np.maximum(out[2:], out[:2] + 1)
    return out


def fill_ellipse(mask: np.ndarray, box: np.ndarray) -> None:
    """Set the ellipse inscribed in the xyxy ``box`` in ``mask``."""
    h, w = mask.shape
    x0, y0 = int(box[0]), int(box[1])
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = max((box[2] - box[0]) / 2, 0.5), max((box[3] - box[1]) / 2, 0.5)
    yy = ((np.arange(y0, y1) + 0.5 - cy) / ry) ** 2
    xx = ((np.arange(x0, x1) + 0.5 - cx) / rx) ** 2
    mask[y0:y1, x0:x1] |= (yy[:, None] + xx[None, :]) <= 1


def box_masks(boxes: list, h: int, w: int) -> np.ndarray:
    """One elliptic mask per box, shape (N, H, W), bool."""
    masks = np.zeros((len(boxes), h, w), dtype=bool)
    for mask, box in zip(masks, boxes):
        fill_ellipse(mask, box)
    return masks


def make_sample(
    index: int,
    seed: int = 0,
    shape=(480, 640),
    img_shape=(480, 480),
    with_coco_gt: bool = False,
):
    """The ``DetDataSample`` of expression ``index``, as a grounder outputs
    it on the packed ground truth; determined by ``(seed, index)``."""
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData, PixelData

    from mmgres.models.grounders.base_grounder import (
        apply_no_target_contract,
    )

    rng = np.random.default_rng([seed, index])
    h, w = shape
    draw = rng.random()
    if draw < NO_TARGET_SHARE:
        num_gt = 0
    elif draw < NO_TARGET_SHARE + MULTI_TARGET_SHARE:
        num_gt = int(rng.integers(2, 5))
    else:
        num_gt = 1
    no_target = num_gt == 0
    gt_boxes = [random_box(rng, h, w) for _ in range(num_gt)]
    gt_masks = box_masks(gt_boxes, h, w)

    pred_boxes = [jitter_box(rng, b, h, w) for b in gt_boxes]
    pred_boxes = [b for b in pred_boxes if rng.random() < FOUND_SHARE]
    false_share = FALSE_INSTANCE_SHARE * (2 if no_target else 1)
    if rng.random() < false_share:
        pred_boxes.append(random_box(rng, h, w))
    pred_masks = box_masks(pred_boxes, h, w)
    scores = rng.uniform(0.5, 1.0, len(pred_boxes)).astype(np.float32)
    nt_share = NT_SAID_ON_NO_TARGET if no_target else NT_SAID_ON_TARGET
    pred_no_target = bool(rng.random() < nt_share)
    points = rng.uniform(0, 1, (NUM_POINTS, 2)) * (w, h)
    for i, box in enumerate(pred_boxes[:NUM_POINTS]):
        points[i] = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    meta = dict(
        img_id=index // 14,  # about 14 expressions per gRefCOCO image
        img_path=f'COCO_train2014_{index // 14:012d}.jpg',
        ori_shape=(h, w),
        img_shape=tuple(img_shape),
        scale_factor=(img_shape[1] / w, img_shape[0] / h),
        flip=False,
        flip_direction=None,
        text=f'expression {index}',
        ref_id=index // 2,
        sent_id=index,
        no_target=no_target,
    )
    if with_coco_gt:
        meta['instances'] = coco_instances(gt_boxes, gt_masks)
    sample = DetDataSample(metainfo=meta)
    box_array = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.from_numpy(box_array)),
        labels=torch.zeros(num_gt, dtype=torch.long),
        masks=BitmapMasks(gt_masks.view(np.uint8), h, w),
    )
    sample.gt_sem_seg = PixelData(
        data=torch.from_numpy(gt_masks.any(0).view(np.uint8))[None]
    )
    pred_array = np.asarray(pred_boxes, np.float32).reshape(-1, 4)
    sample.pred_instances = InstanceData(
        masks=torch.from_numpy(pred_masks),
        bboxes=torch.from_numpy(pred_array),
        scores=torch.from_numpy(scores),
        labels=torch.zeros(len(pred_boxes), dtype=torch.long),
    )
    sample.pred_sem_seg = PixelData(
        data=torch.from_numpy(pred_masks.any(0))[None]
    )
    sample.pred_no_target = pred_no_target
    sample.pred_nt_score = float(rng.random())
    sample.pred_points = torch.from_numpy(points.astype(np.float32))
    return apply_no_target_contract(sample)


def coco_instances(boxes: list, masks: np.ndarray) -> list:
    """Ground truth as mmdet's ``CocoMetric`` reads it without an
    annotation file: the dataset's ``instances``, masks as RLE."""
    from pycocotools import mask as mask_util

    out = []
    for box, mask in zip(boxes, masks):
        rle = mask_util.encode(np.asfortranarray(mask.view(np.uint8)))
        out.append(
            dict(
                bbox=[float(v) for v in box],
                bbox_label=0,
                ignore_flag=0,
                mask=rle,
            )
        )
    return out


# ----------------------------------------------------------- measurement
def rss_bytes() -> int:
    """This process's resident set size."""
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    """This process's peak resident set size (``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def object_bytes(value, seen=None) -> int:
    """Memory of a Python object and what it holds (lists, tuples, dicts,
    numpy arrays), each object counted once."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, np.ndarray):
        return max(size, value.nbytes)
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return size
    return size + sum(object_bytes(v, seen) for v in items)


def record_stats(results: list) -> dict:
    """What ``metric.results`` holds: pickled bytes (as ``collect_results``
    pickles them), the types of its leaves and the largest array."""
    leaf_types = set()
    largest_array = 0

    def walk(value):
        nonlocal largest_array
        if isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        else:
            leaf_types.add(type(value).__name__)
            size = getattr(value, 'size', None)
            if isinstance(size, int):
                largest_array = max(largest_array, size)

    for record in results:
        walk(record)
    nbytes = len(pickle.dumps(results, protocol=COLLECT_PROTOCOL))
    return dict(
        num=len(results),
        object_bytes=object_bytes(results),
        pickled_bytes=nbytes,
        bytes_per_sample=nbytes / max(len(results), 1),
        leaf_types=sorted(leaf_types),
        largest_array=largest_array,
    )


class Probe:
    """Times ``process``/``compute_metrics`` of each metric and measures
    ``collect_results``, without changing what the ``Evaluator`` does."""

    def __init__(self):
        self.current = None
        self.process_s = {}
        self.compute_s = {}
        self.collect = {}
        #: time spent measuring inside ``Evaluator.evaluate``
        self.overhead_s = 0.0

    def watch(self, name: str, metric) -> None:
        """Wrap the bound methods of one metric instance."""
        process, evaluate = metric.process, metric.evaluate
        compute = metric.compute_metrics
        self.process_s[name] = 0.0

        def timed_process(data_batch, data_samples):
            start = time.perf_counter()
            process(data_batch, data_samples)
            self.process_s[name] += time.perf_counter() - start

        def named_evaluate(size):
            self.current = name
            return evaluate(size)

        def timed_compute(results):
            start = time.perf_counter()
            out = compute(results)
            self.compute_s[name] = time.perf_counter() - start
            return out

        metric.process = timed_process
        metric.evaluate = named_evaluate
        metric.compute_metrics = timed_compute

    def install(self):
        """Measure every ``collect_results`` that ``BaseMetric.evaluate``
        calls; returns the function that undoes it."""
        import mmengine.evaluator.metric as metric_module

        original = metric_module.collect_results

        def measured(results, size, device='cpu', tmpdir=None):
            before = rss_bytes()
            start = time.perf_counter()
            out = original(results, size, device, tmpdir=tmpdir)
            seconds = time.perf_counter() - start
            entry = dict(seconds=seconds, rss_delta_bytes=rss_bytes() - before)
            if out is not None:
                entry.update(
                    num=len(out),
                    pickled_bytes=len(
                        pickle.dumps(out, protocol=COLLECT_PROTOCOL)
                    ),
                    object_bytes=object_bytes(out),
                )
            self.collect[self.current] = entry
            self.overhead_s += time.perf_counter() - start - seconds
            return out

        metric_module.collect_results = measured

        def uninstall():
            metric_module.collect_results = original

        return uninstall


def build_metrics(configs: list) -> dict:
    """``{class name: metric}`` from the configs' ``test_evaluator`` (the
    name gets ``@prefix`` when the class repeats); a later metric with the
    same prefix replaces an earlier one."""
    from mmengine.config import Config

    import mmgres.evaluation  # noqa: F401 (registers the metrics)
    from mmgres.registry import METRICS

    by_prefix = {}
    for path in configs:
        cfg = Config.fromfile(
            path if osp.isabs(path) else osp.join(REPO, path)
        )
        evaluator = cfg.test_evaluator
        for metric_cfg in (
            evaluator if isinstance(evaluator, list) else [evaluator]
        ):
            metric = METRICS.build(metric_cfg)
            by_prefix[metric.prefix] = metric
    named = {}
    for prefix, metric in by_prefix.items():
        name = type(metric).__name__
        named[f'{name}@{prefix}' if name in named else name] = metric
    return named


def coco_metric():
    """mmdet's ``CocoMetric`` for masks, one class, no annotation file."""
    from mmdet.evaluation import CocoMetric

    metric = CocoMetric(metric='segm', prefix='coco')
    metric.dataset_meta = dict(classes=('object',))
    return metric


def run_rank(rank: int, world_size: int, opts: dict) -> dict:
    """Process this rank's share and evaluate; the measurements."""
    import torch
    from mmengine.dist import barrier, collect_results
    from mmengine.evaluator import Evaluator

    torch.set_num_threads(1)
    probe = Probe()
    metrics = build_metrics(opts['configs'])
    evaluators = {'grefcoco': Evaluator(list(metrics.values()))}
    if opts['compare_coco']:
        evaluators['coco'] = Evaluator([coco_metric()])
        metrics['CocoMetric'] = evaluators['coco'].metrics[0]
    for name, metric in metrics.items():
        probe.watch(name, metric)

    generate_s = 0.0
    process_s = dict.fromkeys(evaluators, 0.0)
    indices = rank_indices(opts['num_samples'], rank, world_size)
    chunk, batch = opts['chunk_size'], opts['batch_size']
    for chunk_id, first in enumerate(range(0, len(indices), chunk)):
        start = time.perf_counter()
        samples = [
            make_sample(
                i,
                opts['seed'],
                opts['shape'],
                opts['img_shape'],
                opts['compare_coco'],
            )
            for i in indices[first : first + chunk]
        ]
        generate_s += time.perf_counter() - start
        order = list(evaluators)
        if chunk_id % 2:
            order.reverse()
        for key in order:
            start = time.perf_counter()
            for i in range(0, len(samples), batch):
                evaluators[key].process(samples[i : i + batch])
            process_s[key] += time.perf_counter() - start
        del samples

    stored = {name: record_stats(m.results) for name, m in metrics.items()}
    if 'CocoMetric' in metrics:
        # its records are (ground truth, prediction) pairs
        preds = [pred for _, pred in metrics['CocoMetric'].results]
        stored['CocoMetric']['pred_only'] = record_stats(preds)
    values = {}
    evaluate_s = {}
    # The first collect_results of a process allocates buffers of its own;
    # one of an empty list first keeps them out of the metrics' RSS deltas.
    collect_results([], 0)
    gc.collect()  # so that the RSS deltas are the collected results
    uninstall = probe.install()
    try:
        for key, evaluator in evaluators.items():
            barrier()
            probe.overhead_s = 0.0
            start = time.perf_counter()
            values.update(evaluator.evaluate(opts['num_samples']))
            seconds = time.perf_counter() - start
            evaluate_s[key] = seconds - probe.overhead_s
    finally:
        uninstall()
    return dict(
        rank=rank,
        num_processed=len(indices),
        generate_s=generate_s,
        process_s=process_s,
        evaluate_s=evaluate_s,
        metric_process_s=probe.process_s,
        compute_metrics_s=probe.compute_s,
        collect=probe.collect,
        stored=stored,
        metrics=values,
        peak_rss_bytes=peak_rss_bytes(),
    )


def _worker(rank: int, world_size: int, port: int, opts: dict, out_dir: str):
    """One spawned gloo rank; writes its measurements to ``out_dir``."""
    import torch.distributed as torch_dist

    # collect_results makes its shared directory under the working one
    os.chdir(out_dir)
    torch_dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world_size,
    )
    try:
        result = run_rank(rank, world_size, opts)
        with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(result, f)
        torch_dist.barrier()
    except BaseException:
        torch_dist.destroy_process_group()
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    # gloo's destructors can abort a rank on a loaded machine after the
    # work is done and written; skip them.
    os._exit(0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(opts: dict) -> list:
    """The measurements of every rank, rank 0 first."""
    world_size = opts['world_size']
    if world_size == 1:
        return [run_rank(0, 1, opts)]
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(
            _worker,
            args=(world_size, _free_port(), opts, out_dir),
            nprocs=world_size,
            join=True,
        )
        ranks = []
        for rank in range(world_size):
            with open(osp.join(out_dir, f'rank{rank}.json')) as f:
                ranks.append(json.load(f))
    return ranks


def summarize(opts: dict, ranks: list, wall_s: float) -> dict:
    """One report from the ranks' measurements (rank 0 has the collected
    results and the metric values)."""
    first = ranks[0]
    per_metric = {}
    for name in first['stored']:
        per_metric[name] = dict(
            stored_per_rank=[r['stored'][name] for r in ranks],
            process_s=[r['metric_process_s'][name] for r in ranks],
            collect_rank0=first['collect'].get(name),
            compute_metrics_s=first['compute_metrics_s'].get(name),
        )
    evaluation = {}
    for key in first['process_s']:
        eval_s = [r['process_s'][key] + r['evaluate_s'][key] for r in ranks]
        evaluation[key] = dict(
            process_s=[r['process_s'][key] for r in ranks],
            evaluate_s=[r['evaluate_s'][key] for r in ranks],
            eval_s=max(eval_s),
        )
    return dict(
        num_samples=opts['num_samples'],
        world_size=opts['world_size'],
        shape=list(opts['shape']),
        configs=opts['configs'],
        batch_size=opts['batch_size'],
        processed_per_rank=[r['num_processed'] for r in ranks],
        metrics=first['metrics'],
        per_metric=per_metric,
        evaluation=evaluation,
        generate_s=[r['generate_s'] for r in ranks],
        peak_rss_bytes=[r['peak_rss_bytes'] for r in ranks],
        wall_s=wall_s,
    )


def format_report(report: dict) -> str:
    """The report as readable lines."""
    mib = 1024 * 1024
    h, w = report['shape']
    lines = [
        f'{report["num_samples"]} expressions, {report["world_size"]} '
        f'rank(s), {h}x{w} masks, batch size {report["batch_size"]}',
        '| metric | kept per sample (B, pickled) | types | collected on '
        'rank 0 (KiB pickled) | in memory (KiB) | RSS delta (KiB) '
        '| compute_metrics (s) | process (s, per rank) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for name, m in report['per_metric'].items():
        stored = m['stored_per_rank'][0]
        collect = m['collect_rank0'] or {}
        lines.append(
            f'| {name} | {stored["bytes_per_sample"]:.1f} '
            f'| {", ".join(stored["leaf_types"])} '
            f'| {collect.get("pickled_bytes", 0) / 1024:.1f} '
            f'| {collect.get("object_bytes", 0) / 1024:.1f} '
            f'| {collect.get("rss_delta_bytes", 0) / 1024:.0f} '
            f'| {m["compute_metrics_s"]:.3f} '
            f'| {", ".join(f"{s:.2f}" for s in m["process_s"])} |'
        )
    for key, e in report['evaluation'].items():
        lines.append(
            f'{key}: Evaluator.process '
            + ', '.join(f'{s:.2f}' for s in e['process_s'])
            + ' s, Evaluator.evaluate '
            + ', '.join(f'{s:.2f}' for s in e['evaluate_s'])
            + f' s per rank; evaluation {e["eval_s"]:.2f} s'
        )
    lines.append(
        'sample generation (not evaluation): '
        + ', '.join(f'{s:.2f}' for s in report['generate_s'])
        + ' s per rank; peak RSS '
        + ', '.join(f'{b / mib:.0f}' for b in report['peak_rss_bytes'])
        + f' MiB per rank; wall {report["wall_s"]:.1f} s'
    )
    lines.append(
        'metrics: '
        + ', '.join(f'{k}={v:.3f}' for k, v in report['metrics'].items())
    )
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.world_size < 1 or args.num_samples < args.world_size:
        raise SystemExit('need 1 <= --world-size <= --num-samples')
    opts = dict(vars(args))
    opts['configs'] = [
        p if osp.isabs(p) else osp.join(REPO, p) for p in args.configs
    ]
    opts['shape'] = tuple(args.shape)
    opts['img_shape'] = tuple(args.img_shape)
    start = time.perf_counter()
    ranks = run(opts)
    report = summarize(opts, ranks, time.perf_counter() - start)
    print(format_report(report))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
