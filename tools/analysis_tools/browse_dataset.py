# Copyright (c) mmgres contributors. All rights reserved.
"""Draw the samples of a grounding dataset, as its pipeline yields them.

    python tools/analysis_tools/browse_dataset.py CONFIG --output-dir DIR
        [--split {train,val,test}] [--max-samples N] [--not-show]
        [--show-interval S] [--check] [--cfg-options k=v ...]

Each sample (one expression) is drawn with ``GroundingLocalVisualizer``:
the expression as a caption, every target's mask and box, the merged mask
and a "NO TARGET" banner for no-target expressions. Images are written to
``DIR/<image name>_<sent_id>.jpg`` (an image has several expressions).

``--check`` first runs ``find_dataset_problems`` on the split's dataset
config, prints every problem it finds and exits with status 1 if there is
any; with no problem it goes on to draw.
"""

import argparse
import os.path as osp
import sys

import mmcv
import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar, mkdir_or_exist

from mmgres.registry import DATASETS, VISUALIZERS
from mmgres.utils import register_all_modules

VISUALIZER = 'GroundingLocalVisualizer'


def parse_args():
    parser = argparse.ArgumentParser(
        description='Browse (draw) a grounding dataset'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--output-dir',
        default=None,
        help='folder for the drawn images (needed without a display)',
    )
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='train',
        help='which dataloader of the config to browse',
    )
    parser.add_argument(
        '--max-samples',
        type=int,
        default=None,
        help='draw at most this many samples (from the start)',
    )
    parser.add_argument(
        '--not-show',
        action='store_true',
        help='do not open a window for each sample',
    )
    parser.add_argument(
        '--show-interval',
        type=float,
        default=2,
        help='seconds each sample is shown',
    )
    parser.add_argument(
        '--check',
        action='store_true',
        help='list every problem of the annotations first; exit 1 if any',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


def dataset_config(cfg: Config, split: str) -> dict:
    key = f'{split}_dataloader'
    loader = cfg.get(key)
    if not loader or 'dataset' not in loader:
        raise SystemExit(f'The config has no {key}.dataset to browse.')
    return loader['dataset']


def build_visualizer(cfg: Config):
    """The config's visualizer if it is a grounding one, else a default
    ``GroundingLocalVisualizer`` (mmdet's would not draw the expression nor
    the no-target mark)."""
    vis_cfg = cfg.get('visualizer')
    if vis_cfg is not None:
        vis_cls = VISUALIZERS.get(vis_cfg['type'])
        if vis_cls is not None and issubclass(
            vis_cls, VISUALIZERS.get(VISUALIZER)
        ):
            vis_cfg = dict(vis_cfg, name='browse_dataset')
            vis_cfg.pop('vis_backends', None)
            vis_cfg.pop('save_dir', None)
            return VISUALIZERS.build(vis_cfg)
    return VISUALIZERS.build(dict(type=VISUALIZER, name='browse_dataset'))


def gt_shape(data_sample):
    """(H, W) of the ground-truth masks, or None if there are none."""
    if 'gt_sem_seg' in data_sample:
        return tuple(data_sample.gt_sem_seg.shape)
    gt = data_sample.get('gt_instances')
    if gt is not None and 'masks' in gt:
        masks = gt.masks
        return (
            (masks.height, masks.width)
            if hasattr(masks, 'height')
            else tuple(masks.shape[-2:])
        )
    return None


def image_for(item: dict) -> np.ndarray:
    """The RGB image the ground truth of ``item`` is drawn on.

    Usually the pipeline's output (``inputs``, BGR, C×H×W). Test pipelines
    load annotations after ``Resize``, so their ground truth is in the
    original frame: then the original image is read from ``img_path``.
    """
    img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
    data_sample = item['data_samples']
    shape = gt_shape(data_sample)
    if shape is not None and shape != img.shape[:2]:
        ori = tuple(data_sample.get('ori_shape', ()))
        if shape == ori:
            return mmcv.imread(data_sample.img_path, channel_order='rgb')
    return np.ascontiguousarray(img)


def out_name(data_sample, index: int) -> str:
    stem = osp.splitext(osp.basename(data_sample.get('img_path', '')))[0]
    sent_id = data_sample.get('sent_id', None)
    suffix = sent_id if sent_id is not None else f'idx{index}'
    return f'{stem or index}_{suffix}.jpg'


def run_check(dataset_cfg: dict) -> None:
    from mmgres.datasets.utils.checks import find_dataset_problems

    problems = find_dataset_problems(dataset_cfg)
    if problems:
        print(f'{len(problems)} problem(s) found in the dataset:')
        for problem in problems:
            print(f'  - {problem}')
        sys.exit(1)
    print('Dataset check: no problem found.')


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmgres'))

    dataset_cfg = dataset_config(cfg, args.split)
    if args.check:
        run_check(dataset_cfg)
    if args.output_dir is None and args.not_show:
        raise SystemExit(
            'Nothing to do: give --output-dir or drop --not-show.'
        )

    dataset = DATASETS.build(dataset_cfg)
    visualizer = build_visualizer(cfg)
    visualizer.dataset_meta = dataset.metainfo
    if args.output_dir is not None:
        mkdir_or_exist(args.output_dir)

    num = len(dataset)
    if args.max_samples is not None:
        num = min(num, args.max_samples)
    num_no_target = 0
    progress_bar = ProgressBar(num)
    for index in range(num):
        item = dataset[index]
        data_sample = item['data_samples']
        num_no_target += bool(data_sample.get('no_target', False))
        name = out_name(data_sample, index)
        out_file = (
            None
            if args.output_dir is None
            else osp.join(args.output_dir, name)
        )
        visualizer.add_datasample(
            name,
            image_for(item),
            data_sample,
            draw_pred=False,
            show=not args.not_show,
            wait_time=args.show_interval,
            out_file=out_file,
        )
        progress_bar.update()
    print(
        f'\nDrew {num} samples ({num_no_target} no-target)'
        + (f' into {args.output_dir}' if args.output_dir else '')
    )


if __name__ == '__main__':
    main()
