# Copyright (c) mmgres contributors. All rights reserved.
"""Test (evaluate) a grounding model.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
        [--show] [--show-dir DIR] [--wait-time S] [--tta]
        [--allow-partial-load] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

Distributed: ``bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args]``.
"""

import argparse
import os
import os.path as osp

# before mmengine.runner: DeepSpeed is then imported only when a DeepSpeed
# strategy is built (mmgres.utils.deferred_deepspeed)
import mmgres  # noqa: F401

# isort: split
from mmengine.config import Config, DictAction
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmgres.models.utils.checkpoint_coverage import set_allow_partial_load
from mmgres.utils import (
    check_checkpoint_path,
    register_all_modules,
    setup_launcher,
    teardown_launcher,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a grounding model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics',
    )
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file for offline evaluation '
        '(tools/analysis_tools/eval_predictions.py)',
    )
    parser.add_argument(
        '--show', action='store_true', help='show prediction results'
    )
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. If specified, '
        'it will be automatically saved to the work_dir/timestamp/show_dir',
    )
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)'
    )
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: wrap the model in `tta_model` and '
        'test with `tta_pipeline` (both from the config)',
    )
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help="load a checkpoint that fills fewer than half of the model's "
        'state-dict entries (by default an error that names the unmatched '
        'keys); the same as `allow_partial_load = True` in the config',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            '--show/--show-dir need a `visualization` hook in '
            '`default_hooks`, e.g. '
            "default_hooks = dict(visualization=dict(type='"
            "GroundingVisualizationHook'))"
        )
    hook = default_hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir
    return cfg


def use_tta(cfg):
    """mmdet's ``--tta``: the model inside ``cfg.tta_model``, the test
    pipeline replaced by ``cfg.tta_pipeline``."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        raise RuntimeError(
            f'--tta needs {" and ".join(missing)} in the config, e.g. '
            "tta_model = dict(type='GroundingTTAModel') and a tta_pipeline "
            'with TestTimeAug (see configs/_base_/datasets/'
            'synthetic_grefcoco.py)'
        )
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_launcher(cfg, args.launcher)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0]
        )

    check_checkpoint_path(args.checkpoint, 'Test')
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.allow_partial_load:
        cfg.allow_partial_load = True
    set_allow_partial_load(bool(cfg.get('allow_partial_load', False)))

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        cfg = use_tta(cfg)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)

    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), (
            'The dump file must be a pkl file.'
        )
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out)
        )

    runner.test()
    teardown_launcher()


if __name__ == '__main__':
    main()
