# Copyright (c) mmgres contributors. All rights reserved.
"""Score two trivial predictors on a gRefCOCO-format split, to show how much
headroom a benchmark leaves:

* ``no-target``: always answers "no target" (empty mask, no boxes);
* ``all-objects``: always answers every (non-crowd) object of the image:
  the union of their masks, and all their boxes with score 1.

    python tools/analysis_tools/trivial_baselines.py \
        configs/_base_/datasets/synthetic_grefcoco.py [--split val]

The metrics are the config's evaluators for that split plus ``GRECMetric``.
"""

import argparse

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmgres.registry import DATASETS
from mmgres.utils import register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description='Trivial GRES baselines')
    parser.add_argument('config', help='a config with a gRefCOCO dataset')
    parser.add_argument(
        '--split',
        default='val',
        choices=['val', 'test'],
        help="score the config's val or test dataloader and evaluator "
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


def _image_objects(coco, img_id, height, width):
    """Masks (K, H, W) bool and xyxy boxes (K, 4) of every non-crowd
    object of an image, from the COCO annotations."""
    anns = [
        a
        for a in coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
        if not a.get('iscrowd', 0)
    ]
    masks = np.zeros((len(anns), height, width), bool)
    boxes = np.zeros((len(anns), 4), np.float32)
    for k, ann in enumerate(anns):
        seg = ann['segmentation']
        if isinstance(seg, list):
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg['counts'], list):
            rle = mask_utils.frPyObjects(seg, height, width)
        else:
            rle = seg
        masks[k] = mask_utils.decode(rle).astype(bool)
        x, y, w, h = ann['bbox']
        boxes[k] = [x, y, x + w, y + h]
    return masks, boxes


def main():
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader_cfg = cfg[f'{args.split}_dataloader']
    evaluator_cfg = cfg[f'{args.split}_evaluator']
    evaluator_cfg = (
        list(evaluator_cfg)
        if isinstance(evaluator_cfg, (list, tuple))
        else [evaluator_cfg]
    )
    if not any(e['type'] == 'GRECMetric' for e in evaluator_cfg):
        evaluator_cfg.append(dict(type='GRECMetric'))
    ds_cfg = loader_cfg.dataset.copy()
    ds_cfg.pipeline = [
        dict(type='LoadReferringAnnotations'),
        dict(type='PackReferringInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmgres'):
        dataset = DATASETS.build(ds_cfg)

    coco = COCO(dataset.ann_file)
    objects = {}
    preds = dict(no_target=[], all_objects=[])
    for i in range(len(dataset)):
        packed = dataset[i]
        sample = packed['data_samples']
        info = dataset.get_data_info(i)
        h, w = info['height'], info['width']
        # no image is loaded: the frame is the annotation's (original) one
        sample.set_metainfo(dict(ori_shape=(h, w), img_shape=(h, w)))
        img_id = info['img_id']
        if img_id not in objects:
            objects[img_id] = _image_objects(coco, img_id, h, w)
        masks, boxes = objects[img_id]
        gt = sample.to_dict()

        nt = dict(gt)
        nt['pred_no_target'] = True
        nt['pred_sem_seg'] = dict(data=torch.zeros(1, h, w, dtype=torch.bool))
        nt['pred_instances'] = dict(
            bboxes=torch.zeros(0, 4),
            scores=torch.zeros(0),
            masks=torch.zeros(0, h, w, dtype=torch.bool),
        )
        preds['no_target'].append(nt)

        allo = dict(gt)
        allo['pred_no_target'] = False
        allo['pred_sem_seg'] = dict(
            data=torch.from_numpy(masks.any(0, keepdims=True))
        )
        allo['pred_instances'] = dict(
            bboxes=torch.from_numpy(boxes),
            scores=torch.ones(len(boxes)),
            masks=torch.from_numpy(masks),
        )
        preds['all_objects'].append(allo)

    print(f'{len(dataset)} expressions, split {args.split}')
    for name, samples in preds.items():
        with DefaultScope.overwrite_default_scope('mmgres'):
            evaluator = Evaluator(evaluator_cfg)
        metrics = evaluator.offline_evaluate(samples, chunk_size=256)
        text = ', '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        print(f'{name}: {text}')


if __name__ == '__main__':
    main()
