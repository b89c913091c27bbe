# Copyright (c) mmgres contributors. All rights reserved.
"""List every problem of a config's referring dataset(s), up front.

    python tools/analysis_tools/check_dataset.py CONFIG
        [--split {train,val,test,all}] [--no-images] [--no-decode]
        [--cfg-options k=v ...]

Scans the annotation files (format errors, refs pointing at missing images
or annotations, empty expressions, invalid segmentations) and the images
(missing, unreadable, size different from ``instances.json``) and prints
ALL problems, instead of failing mid-epoch. Exits with 1 when there is any.
On a terminal, a progress bar on stderr counts the images checked.
"""

import argparse
import sys

from mmengine.config import Config, DictAction


def parse_args():
    parser = argparse.ArgumentParser(
        description='Check a referring dataset for problems'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test', 'all'],
        default='all',
        help="which dataloader's dataset to check (default: all)",
    )
    parser.add_argument(
        '--no-images',
        action='store_true',
        help='check only the annotation files',
    )
    parser.add_argument(
        '--no-decode',
        action='store_true',
        help='only check that image files exist (faster)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmdet.utils import register_all_modules

    import mmgres.datasets  # noqa: F401
    from mmgres.datasets.utils import find_dataset_problems

    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    splits = ['train', 'val', 'test'] if args.split == 'all' else [args.split]
    checked, total = [], 0
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or 'dataset' not in loader:
            print(f'[{split}] no {split}_dataloader.dataset in the config')
            continue
        dataset = loader['dataset']
        if dataset in checked:  # e.g. test_dataloader = val_dataloader
            print(f'[{split}] same dataset as checked above')
            continue
        checked.append(dataset)
        problems = find_dataset_problems(
            dataset,
            progress=True,
            check_images=not args.no_images,
            decode_images=not args.no_decode,
        )
        total += len(problems)
        print(
            f'[{split}] {dataset.get("type")} split='
            f'{dataset.get("split")}: {len(problems)} problem(s)'
        )
        for problem in problems:
            print(f'  - {problem}')
    print(f'{total} problem(s) found' if total else 'No problem found.')
    return 1 if total else 0


if __name__ == '__main__':
    sys.exit(main())
