# Copyright (c) mmgres contributors. All rights reserved.
"""Time GRESMetric against a plain numpy I/U baseline on the same masks.

Random 480x480 boolean mask pairs are generated chunk by chunk (so memory
stays at about ``2 * chunk_size * H * W`` bytes). For every chunk, the same
arrays go through

- ``GRESMetric.process`` in batches, as mmengine's ``Evaluator`` calls it
  (samples in their ``.to_dict()`` form, tensors sharing the arrays), and
- the baseline ``(a & b).sum(); (a | b).sum()``,

alternating which goes first. ``compute_metrics`` is timed at the end and
counted for the metric. The masks are noise: only the cost is measured.

Example::

    python tools/analysis_tools/benchmark_metrics.py --num-samples 2000
"""

import argparse
import time

import numpy as np
import torch

from mmgres.evaluation import GRESMetric


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark GRESMetric against a numpy baseline'
    )
    parser.add_argument(
        '--num-samples',
        type=int,
        default=20000,
        help='random (prediction, ground truth) mask pairs scored '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--size', type=int, default=480, help='masks are size x size'
    )
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=250,
        help='mask pairs generated at a time',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=16,
        help='samples per GRESMetric.process call',
    )
    parser.add_argument(
        '--gt-uint8',
        action='store_true',
        help='pass the ground truth as uint8, as the data '
        'contract has it (the metric then converts it)',
    )
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the random masks (default: %(default)s)',
    )
    return parser.parse_args()


def random_masks(rng: np.random.Generator, num: int, size: int) -> np.ndarray:
    """``num`` random boolean masks of ``size x size``, about half set."""
    packed = rng.integers(0, 256, (num, size, (size + 7) // 8), dtype=np.uint8)
    bits = np.unpackbits(packed, axis=-1, count=size)
    return bits.view(np.bool_)


def make_samples(
    gt: np.ndarray,
    pred: np.ndarray,
    no_target: np.ndarray,
    pred_nt: np.ndarray,
    gt_uint8: bool,
) -> list:
    """Samples in the ``.to_dict()`` form, sharing the arrays."""
    samples = []
    for i in range(len(gt)):
        gt_i = gt[i].view(np.uint8) if gt_uint8 else gt[i]
        samples.append(
            dict(
                img_id=i,
                no_target=bool(no_target[i]),
                pred_no_target=bool(pred_nt[i]),
                gt_sem_seg=dict(data=torch.from_numpy(gt_i)[None]),
                pred_sem_seg=dict(data=torch.from_numpy(pred[i])[None]),
            )
        )
    return samples


def time_metric(metric: GRESMetric, samples: list, batch_size: int) -> float:
    """Seconds for ``metric.process`` over ``samples`` in batches."""
    start = time.perf_counter()
    for i in range(0, len(samples), batch_size):
        metric.process({}, samples[i : i + batch_size])
    return time.perf_counter() - start


def time_baseline(pred: np.ndarray, gt: np.ndarray) -> tuple:
    """Seconds for the plain numpy I/U over the pairs, and a checksum."""
    checksum = 0
    start = time.perf_counter()
    for a, b in zip(pred, gt):
        inter = (a & b).sum()
        union = (a | b).sum()
        checksum += int(inter) + int(union)
    return time.perf_counter() - start, checksum


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    metric = GRESMetric()
    t_metric = t_base = 0.0
    checksum = 0
    done = 0
    chunk_id = 0
    while done < args.num_samples:
        num = min(args.chunk_size, args.num_samples - done)
        gt = random_masks(rng, num, args.size)
        pred = random_masks(rng, num, args.size)
        samples = make_samples(
            gt,
            pred,
            rng.random(num) < 0.1,
            rng.random(num) < 0.1,
            args.gt_uint8,
        )

        if chunk_id % 2 == 0:
            t_metric += time_metric(metric, samples, args.batch_size)
            seconds, chunk_sum = time_baseline(pred, gt)
        else:
            seconds, chunk_sum = time_baseline(pred, gt)
            t_metric += time_metric(metric, samples, args.batch_size)
        t_base += seconds
        checksum += chunk_sum
        done += num
        chunk_id += 1
        del gt, pred, samples

    start = time.perf_counter()
    results = metric.evaluate(args.num_samples)
    t_compute = time.perf_counter() - start
    total = t_metric + t_compute

    n = args.num_samples
    metric_rate = n / total
    base_rate = n / t_base
    print(
        f'{n} random {args.size}x{args.size} mask pairs, '
        f'batch size {args.batch_size}, ground truth as '
        f'{"uint8" if args.gt_uint8 else "bool"}'
    )
    print(
        f'GRESMetric: {metric_rate:.1f} samples/s (process {t_metric:.3f} '
        f's + compute_metrics {t_compute:.3f} s)'
    )
    print(
        f'numpy baseline (a & b).sum(); (a | b).sum(): {base_rate:.1f} '
        f'samples/s ({t_base:.3f} s)'
    )
    print(f'ratio metric/baseline throughput: {metric_rate / base_rate:.3f}')
    print('metric: ' + ', '.join(f'{k}={v:.3f}' for k, v in results.items()))
    print(f'(baseline checksum {checksum})')


if __name__ == '__main__':
    main()
