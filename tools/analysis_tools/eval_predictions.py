# Copyright (c) mmgres contributors. All rights reserved.
"""Score saved predictions offline with a config's evaluator.

    python tools/test.py CONFIG CHECKPOINT --out preds.pkl
    python tools/analysis_tools/eval_predictions.py CONFIG preds.pkl
        [--split {test,val}] [--out-json FILE] [--cfg-options k=v ...]
        [--group-by-kind SCENES_JSON]

``preds.pkl`` is what mmengine's ``DumpResults`` writes: a list of data
samples as dicts (``DetDataSample.to_dict()``) holding both the ground truth
and the predictions. They are scored with the config's ``test_evaluator``
(or ``val_evaluator``) through mmengine's ``Evaluator.offline_evaluate``,
so a metric can be changed or re-configured without running the model
again, e.g. ``--cfg-options test_evaluator.no_target_mode=score``.

The file is read with a restricted unpickler that resolves only the types
such a file holds (numpy arrays, torch tensors, basic types) and refuses
any other global, naming it, so a crafted file cannot run code.

``--group-by-kind data/synthetic_grefcoco/scenes.json`` also breaks the
scores down by expression kind, for predictions on the synthetic benchmark
(``mmgres.datasets.synthetic``): its ``scenes.json`` names the grammar rule
of every sentence (``'attribute'``, ``'relation'``, ..., the no-target
``'neg_attribute'``, ...). After the overall metrics, the samples are split
by the kind of their ``sent_id`` and each group is scored by a fresh
evaluator built from the same config; a table gives one row per kind, most
samples first, with the sample count and every metric (NaN where a ratio
has no samples, e.g. ``N_acc`` of a kind without no-target expressions).
``--out-json`` then also holds ``'by_kind': {kind: {'samples': n,
metric: value, ...}, ...}`` next to the overall metrics. A sample whose
``sent_id`` is not in the file is an error.
"""

import argparse
import json
import os.path as osp
from numbers import Number
from typing import Dict, List, Optional

import mmengine
from mmengine.config import Config, DictAction
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from mmgres.registry import DATASETS
from mmgres.utils import register_all_modules
from mmgres.utils.safe_pickle import (
    ForbiddenGlobalError,
    prediction_globals,
    restricted_load,
)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Evaluate predictions saved by tools/test.py --out'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        'pred_pkl',
        help='predictions pickle of tools/test.py --out (DumpResults); '
        'read without running code: only numpy arrays, torch tensors and '
        'basic types are accepted',
    )
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
        '--group-by-kind',
        metavar='SCENES_JSON',
        default=None,
        help='also score each expression kind apart; the kinds are read '
        "from the synthetic benchmark's scenes.json",
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
        # only what DumpResults writes is resolved: a crafted pickle cannot
        # run code here
        preds = restricted_load(
            path, prediction_globals(), what='predictions file'
        )
    except ForbiddenGlobalError as e:
        raise SystemExit(str(e)) from e
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


def load_sentence_kinds(scenes_path: str) -> Dict:
    """Map each ``sent_id`` of a synthetic ``scenes.json`` to its kind.

    Args:
        scenes_path (str): ``{'images': [{..., 'sentences': [{'sent_id',
            'ref_id', 'kind'}, ...]}, ...]}`` as the synthetic benchmark's
            writer stores it.

    Returns:
        dict: ``{sent_id: kind}``.
    """
    if not osp.isfile(scenes_path):
        raise SystemExit(f'Scenes file not found: {scenes_path}')
    try:
        with open(scenes_path) as f:
            scenes = json.load(f)
    except ValueError as e:
        raise SystemExit(f'Cannot read scenes file {scenes_path}: {e}') from e
    images = scenes.get('images') if isinstance(scenes, dict) else None
    if not isinstance(images, list):
        raise SystemExit(
            f'{scenes_path} is not a scenes.json: expected a dict with an '
            '"images" list.'
        )
    kinds = {}
    for image in images:
        for sentence in image.get('sentences', []):
            sent_id, kind = sentence.get('sent_id'), sentence.get('kind')
            if sent_id is None or kind is None:
                raise SystemExit(
                    f'{scenes_path}: image {image.get("image_id")} has a '
                    f'sentence without "sent_id" or "kind": {sentence}'
                )
            if kinds.setdefault(sent_id, kind) != kind:
                raise SystemExit(
                    f'{scenes_path}: sent_id {sent_id} is listed with two '
                    f'kinds, {kinds[sent_id]!r} and {kind!r}.'
                )
    return kinds


def group_by_kind(preds: List[dict], scenes_path: str) -> Dict[str, list]:
    """Split data-sample dicts by the expression kind of their sentence.

    Args:
        preds (list[dict]): Data samples as ``DumpResults`` stores them,
            each with its ``sent_id`` (a metainfo key of
            ``PackReferringInputs``).
        scenes_path (str): The synthetic benchmark's ``scenes.json``.

    Returns:
        dict[str, list]: ``{kind: samples}``, the samples in their input
        order; the kinds ordered by number of samples, most first (ties by
        name). Kinds without samples are left out.
    """
    kinds = load_sentence_kinds(scenes_path)
    groups: Dict[str, list] = {}
    for i, pred in enumerate(preds):
        if 'sent_id' not in pred:
            raise SystemExit(
                f'Sample {i} has no sent_id, so its expression kind cannot '
                f'be looked up in {scenes_path}.'
            )
        sent_id = pred['sent_id']
        if sent_id not in kinds:
            raise SystemExit(
                f'Sample {i}: sent_id {sent_id} is not in {scenes_path}; '
                'were the predictions made on another dataset?'
            )
        groups.setdefault(kinds[sent_id], []).append(pred)
    order = sorted(groups, key=lambda kind: (-len(groups[kind]), kind))
    return {kind: groups[kind] for kind in order}


def evaluate(
    evaluator_cfg, dataset_meta: dict, preds: List[dict], chunk_size: int
) -> dict:
    """Score ``preds`` with a fresh ``Evaluator`` built from the config."""
    evaluator = Evaluator(evaluator_cfg)
    evaluator.dataset_meta = dataset_meta
    return evaluator.offline_evaluate(preds, chunk_size=chunk_size)


def format_value(value) -> str:
    if isinstance(value, bool) or not isinstance(value, Number):
        return str(value)
    return f'{value:.4f}'


def plain_metrics(results: dict) -> dict:
    """Numbers as Python floats, for JSON."""
    return {
        k: float(v) if isinstance(v, Number) and not isinstance(v, bool) else v
        for k, v in results.items()
    }


def format_kind_table(by_kind: Dict[str, dict]) -> str:
    """One row per kind: the kind, its sample count and its metrics.

    Args:
        by_kind (dict): ``{kind: {'samples': n, metric: value, ...}}``.

    Returns:
        str: A plain-text table, ``-`` where a kind lacks a metric.
    """
    names: List[str] = []
    for row in by_kind.values():
        names += [k for k in row if k != 'samples' and k not in names]
    header = ['kind', 'samples', *names]
    rows = [
        [kind, str(row['samples'])]
        + [format_value(row[n]) if n in row else '-' for n in names]
        for kind, row in by_kind.items()
    ]
    widths = [
        max(len(r[i]) for r in [header, *rows]) for i in range(len(header))
    ]

    def line(cells: List[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return '  '.join([first, *rest]).rstrip()

    rule = '  '.join('-' * w for w in widths)
    return '\n'.join([line(header), rule, *map(line, rows)])


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

    # look the kinds up first: a wrong scenes.json fails before any scoring
    groups: Optional[Dict[str, list]] = None
    if args.group_by_kind is not None:
        groups = group_by_kind(preds, args.group_by_kind)

    dataset_meta = dataset_metainfo(cfg, args.split)
    results = evaluate(evaluator_cfg, dataset_meta, preds, args.chunk_size)

    print(f'Evaluated {len(preds)} samples from {args.pred_pkl}:')
    for name, value in results.items():
        print(f'{name}: {format_value(value)}')
    plain = plain_metrics(results)
    if groups is not None:
        by_kind = {
            kind: dict(
                samples=len(samples),
                **plain_metrics(
                    evaluate(
                        evaluator_cfg, dataset_meta, samples, args.chunk_size
                    )
                ),
            )
            for kind, samples in groups.items()
        }
        print(f'\nBy expression kind ({args.group_by_kind}):')
        print(format_kind_table(by_kind))
        plain['by_kind'] = by_kind
        results = dict(results, by_kind=by_kind)
    if args.out_json is not None:
        mmengine.dump(plain, args.out_json, indent=2)
        print(f'Metrics written to {args.out_json}')
    return results


if __name__ == '__main__':
    main()
