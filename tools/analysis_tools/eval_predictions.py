# Copyright (c) mmgres contributors. All rights reserved.
"""Score saved predictions offline with a config's evaluator.

    python tools/test.py CONFIG CHECKPOINT --out preds.pkl
    python tools/analysis_tools/eval_predictions.py CONFIG preds.pkl
        [--split {test,val}] [--out-json FILE] [--cfg-options k=v ...]

``preds.pkl`` is what mmengine's ``DumpResults`` writes: a list of data
samples as dicts (``DetDataSample.to_dict()``) holding both the ground truth
and the predictions. They are scored with the config's ``test_evaluator``
(or ``val_evaluator``) through mmengine's ``Evaluator.offline_evaluate``,
so a metric can be changed or re-configured without running the model
again, e.g. ``--cfg-options test_evaluator.no_target_mode=score``.
"""

import argparse
import os.path as osp
from numbers import Number

import mmengine
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from mmgres.registry import DATASETS
from mmgres.utils import register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(
        description='Evaluate predictions saved by tools/test.py --out'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument('pred_pkl', help='predictions pickle (DumpResults)')
    parser.add_argument(
        '--split',
        choices=['test', 'val'],
        default='test',
        help='use the test_evaluator or the val_evaluator of the config',
    )
    parser.add_argument(
        '--out-json', default=None, help='also write the metrics there'
    )
    parser.add_argument(
        '--chunk-size',
        type=int,
        default=64,
        help='samples handed to the metrics per process() call',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


def load_predictions(path: str) -> list:
    """Read a ``DumpResults`` pickle and check it is a list of sample
    dicts."""
    if not osp.isfile(path):
        raise SystemExit(f'Predictions file not found: {path}')
    try:
        preds = mmengine.load(path, file_format='pkl')
    except Exception as e:  # unpickling errors have many types
        raise SystemExit(f'Cannot read predictions file {path}: {e}') from e
    if not isinstance(preds, (list, tuple)):
        raise SystemExit(
            f'{path} holds a {type(preds).__name__}, not the list of data '
            'samples that tools/test.py --out (DumpResults) writes.'
        )
    for i, pred in enumerate(preds):
        if not isinstance(pred, dict):
            raise SystemExit(
                f'{path}: entry {i} is a {type(pred).__name__}, not a '
                'data-sample dict.'
            )
    return list(preds)


def dataset_metainfo(cfg: Config, split: str) -> dict:
    """The dataset's metainfo, without loading its annotations."""
    loader = cfg.get(f'{split}_dataloader') or {}
    dataset_cfg = loader.get('dataset')
    if dataset_cfg is None:
        return {}
    dataset = DATASETS.build(dict(dataset_cfg, lazy_init=True))
    return dataset.metainfo


def format_value(value) -> str:
    if isinstance(value, bool) or not isinstance(value, Number):
        return str(value)
    return f'{value:.4f}'


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmgres'))

    key = f'{args.split}_evaluator'
    evaluator_cfg = cfg.get(key)
    if not evaluator_cfg:
        raise SystemExit(f'The config {args.config} has no {key}.')
    preds = load_predictions(args.pred_pkl)
    if not preds:
        raise SystemExit(f'{args.pred_pkl} holds no predictions.')

    evaluator = Evaluator(evaluator_cfg)
    evaluator.dataset_meta = dataset_metainfo(cfg, args.split)
    results = evaluator.offline_evaluate(preds, chunk_size=args.chunk_size)

    print(f'Evaluated {len(preds)} samples from {args.pred_pkl}:')
    for name, value in results.items():
        print(f'{name}: {format_value(value)}')
    if args.out_json is not None:
        plain = {
            k: float(v)
            if isinstance(v, Number) and not isinstance(v, bool)
            else v
            for k, v in results.items()
        }
        mmengine.dump(plain, args.out_json, indent=2)
        print(f'Metrics written to {args.out_json}')
    return results


if __name__ == '__main__':
    main()
