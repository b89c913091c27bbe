# Copyright (c) mmgres contributors. All rights reserved.
"""Generate the synthetic gRefCOCO-format benchmark (mmgres' default data).

    python tools/dataset_converters/generate_synthetic_grefcoco.py \\
        --out-dir data/synthetic_grefcoco [--num-train 1500] [--num-val 150]
        [--num-test 150] [--img-size 128] [--seed 0] [--force]
        [--no-progress]

Writes ``grefs(unc).json``, ``instances.json`` and ``images/`` in the
official gRefCOCO format, plus the classic RefCOCO-style variant under
``refcoco/`` (see :mod:`mmgres.datasets.synthetic`), shows a progress bar
and prints a summary per split. ``--num-test`` sets both ``testA`` (sparse
scenes) and ``testB`` (crowded scenes).

Idempotent: when ``OUT_DIR/generation_args.json`` records the same
arguments, nothing is regenerated; ``--force`` regenerates anyway.
"""

import argparse
import sys
from typing import List, Optional

from mmgres.datasets.synthetic import (
    DEFAULT_NUM_IMAGES,
    format_summary,
    generate_synthetic_grefcoco,
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic gRefCOCO-format benchmark'
    )
    parser.add_argument(
        '--out-dir',
        default='data/synthetic_grefcoco',
        help='output root (default: %(default)s)',
    )
    parser.add_argument(
        '--num-train',
        type=int,
        default=DEFAULT_NUM_IMAGES['train'],
        help='train images (default: %(default)s)',
    )
    parser.add_argument(
        '--num-val',
        type=int,
        default=DEFAULT_NUM_IMAGES['val'],
        help='val images (default: %(default)s)',
    )
    parser.add_argument(
        '--num-test',
        type=int,
        default=DEFAULT_NUM_IMAGES['testA'],
        help='images of testA and of testB each (default: %(default)s)',
    )
    parser.add_argument(
        '--img-size',
        type=int,
        default=128,
        help='image width and height (default: %(default)s)',
    )
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)'
    )
    parser.add_argument(
        '--img-format',
        choices=['jpg', 'png'],
        default='jpg',
        help='image format (default: %(default)s)',
    )
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if the output is up to date',
    )
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar'
    )
    args = parser.parse_args(argv)
    for name in ('num_train', 'num_val', 'num_test'):
        if getattr(args, name) < 0:
            parser.error(f'--{name.replace("_", "-")} must be >= 0')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    num_images = dict(
        train=args.num_train,
        val=args.num_val,
        testA=args.num_test,
        testB=args.num_test,
    )
    summary = generate_synthetic_grefcoco(
        args.out_dir,
        num_images=num_images,
        img_size=args.img_size,
        seed=args.seed,
        img_format=args.img_format,
        progress=not args.no_progress,
        force=args.force,
    )
    if summary['skipped']:
        print(
            f'[mmgres] {args.out_dir} is up to date (same generation '
            'arguments in generation_args.json): skipping. Use --force '
            'to regenerate.'
        )
    else:
        print(f'[mmgres] wrote {args.out_dir} in {summary["seconds"]:.1f} s')
    print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
