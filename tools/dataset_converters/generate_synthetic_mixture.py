# Copyright (c) mmgres contributors. All rights reserved.
"""Write tiny official-format stand-ins of GSVA's pre-training mixture.

    python tools/dataset_converters/generate_synthetic_mixture.py \\
        [--src data/synthetic_grefcoco] [--out-dir data/synthetic_mixture]
        [--num-images 16]

ADE20K, COCO-Stuff, PACO-LVIS, PASCAL-Part, LLaVA-Instruct-150k and
ReasonSeg, each in its official layout and format, made from the first
training scenes of the synthetic benchmark (which must exist: run
``generate_synthetic_grefcoco.py`` first). The tiny pre-training config
(``configs/gsva/gsva_tiny_1xb8-40i_synthetic-pretrain-mixture.py``) reads
them. See :mod:`mmgres.datasets.synthetic.mixture`.
"""

import argparse
from typing import List, Optional

from mmgres.datasets.synthetic import write_synthetic_mixture


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write tiny stand-ins of GSVA's pre-training mixture"
    )
    parser.add_argument(
        '--src',
        default='data/synthetic_grefcoco',
        help='the synthetic benchmark to take the scenes from '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--out-dir',
        default='data/synthetic_mixture',
        help='output root (default: %(default)s)',
    )
    parser.add_argument(
        '--num-images',
        type=int,
        default=16,
        help='training scenes to use (default: %(default)s)',
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    counts = write_synthetic_mixture(args.src, args.out_dir, args.num_images)
    for name, n in counts.items():
        print(f'{name:12s} {n:6d}')
    print(f'written to {args.out_dir}')


if __name__ == '__main__':
    main()
