# Copyright (c) mmgres contributors. All rights reserved.
"""Lay out the Ref-ZOM download the way ``RefZOMDataset`` reads it.

    python tools/dataset_converters/prepare_refzom.py \\
        --refs PATH/Ref-ZOM(final).p --instances PATH/instances.json \\
        --coco-root data/coco --out-dir data/ref-zom [--copy]

Ref-ZOM (DMMI, ICCV 2023) ships a refs pickle, released as
``Ref-ZOM(final).p``, and a COCO ``instances.json``; its images come from
COCO train2014 *and* val2014, which its authors merge into one
``trainval2014`` folder. This script:

1. copies the refs pickle to ``OUT_DIR/refs(final).p`` (the name that
   ``split_by='final'`` looks for) and ``instances.json`` next to it;
2. fills ``OUT_DIR/images/trainval2014/`` (the ``data_prefix`` of
   ``configs/_base_/datasets/refzom.py``) with one symbolic link (or, with
   ``--copy``, one copy) per image of ``COCO_ROOT/train2014`` and
   ``COCO_ROOT/val2014``;
3. checks that every image named in ``instances.json`` is there, and exits
   with status 1, listing the first missing ones, if not.

Running it again only adds what is missing.
"""

import argparse
import json
import os
import os.path as osp
import shutil
import sys
from typing import List

IMAGE_SPLITS = ('train2014', 'val2014')
MERGED = osp.join('images', 'trainval2014')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Prepare Ref-ZOM: rename its refs file and merge COCO '
        'train2014 + val2014 into trainval2014'
    )
    parser.add_argument(
        '--refs', required=True, help='the refs pickle, Ref-ZOM(final).p'
    )
    parser.add_argument(
        '--instances', required=True, help="Ref-ZOM's instances.json"
    )
    parser.add_argument(
        '--coco-root',
        required=True,
        help='folder holding COCO train2014/ and val2014/',
    )
    parser.add_argument(
        '--out-dir', default='data/ref-zom', help='output folder'
    )
    parser.add_argument(
        '--copy',
        action='store_true',
        help='copy the images instead of linking them',
    )
    return parser.parse_args(argv)


def copy_annotations(refs: str, instances: str, out_dir: str) -> None:
    for src in (refs, instances):
        if not osp.isfile(src):
            raise SystemExit(f'File not found: {src}')
    shutil.copyfile(refs, osp.join(out_dir, 'refs(final).p'))
    shutil.copyfile(instances, osp.join(out_dir, 'instances.json'))


def merge_images(coco_root: str, merged: str, copy: bool) -> int:
    """Link (or copy) every file of the COCO image splits into ``merged``.

    Returns:
        int: The number of files added.
    """
    os.makedirs(merged, exist_ok=True)
    added = 0
    for split in IMAGE_SPLITS:
        src_dir = osp.join(coco_root, split)
        if not osp.isdir(src_dir):
            raise SystemExit(f'COCO image folder not found: {src_dir}')
        for name in sorted(os.listdir(src_dir)):
            dst = osp.join(merged, name)
            if osp.lexists(dst):
                continue
            src = osp.abspath(osp.join(src_dir, name))
            if copy:
                shutil.copy2(src, dst)
            else:
                os.symlink(src, dst)
            added += 1
    return added


def missing_images(instances: str, merged: str) -> List[str]:
    """File names in ``instances.json`` with no file in ``merged``."""
    try:
        with open(instances, encoding='utf-8') as f:
            images = json.load(f)['images']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(
            f'{instances} is not a COCO instances file: {e!r}'
        ) from e
    return [
        img['file_name']
        for img in images
        if not osp.exists(osp.join(merged, img['file_name']))
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    copy_annotations(args.refs, args.instances, args.out_dir)
    merged = osp.join(args.out_dir, MERGED)
    added = merge_images(args.coco_root, merged, args.copy)
    print(
        f'{merged}: added {added} images '
        f'({"copied" if args.copy else "linked"})'
    )
    missing = missing_images(args.instances, merged)
    if missing:
        print(
            f'{len(missing)} image(s) of {args.instances} are missing '
            f'from {merged}, e.g.:'
        )
        for name in missing[:10]:
            print(f'  {name}')
        return 1
    print(f'Ref-ZOM is ready in {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
