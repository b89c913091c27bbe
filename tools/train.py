# Copyright (c) mmgres contributors. All rights reserved.
"""Train a grounding model.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--resume-fallback]
        [--amp] [--auto-scale-lr] [--allow-partial-load]
        [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

Distributed: ``bash tools/dist_train.sh CONFIG NUM_PROCS [args]`` (torchrun;
works on CPU-only machines with the gloo backend).
"""

import argparse
import os
import os.path as osp

# before mmengine.runner: DeepSpeed is then imported only when a DeepSpeed
# strategy is built (mmgres/utils/deferred_deepspeed.py)
import mmgres  # noqa: F401

# isort: split
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from mmgres.models.utils.checkpoint_coverage import set_allow_partial_load
from mmgres.utils import (
    check_checkpoint_path,
    register_all_modules,
    resolve_resume_checkpoint,
    setup_amp,
    setup_launcher,
    teardown_launcher,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a grounding model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed precision: fp16 with CUDA, bf16 autocast on CPU',
    )
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='enable automatically scaling LR.',
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work directory',
    )
    parser.add_argument(
        '--resume-fallback',
        action='store_true',
        help='with --resume: if the checkpoint to resume from is missing, '
        'truncated or corrupt, resume from the newest intact earlier '
        'checkpoint beside it instead (a warning names both; no file is '
        'removed)',
    )
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help="let `load_from` fill fewer than half of the model's "
        'state-dict entries (by default an error that names the unmatched '
        'keys); the same as `allow_partial_load = True` in the config',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs, e.g. '
        'train_cfg.max_epochs=2 or key="[a,b]"',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if args.resume_fallback and args.resume is None:
        parser.error('--resume-fallback applies only with --resume')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


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

    if args.amp:
        setup_amp(cfg)

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError(
                '--auto-scale-lr needs `auto_scale_lr = '
                'dict(enable=..., base_batch_size=...)` in '
                'the config.'
            )

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('resume'):
        # A broken checkpoint fails here, before anything is built, naming
        # the newest intact earlier one (or resuming from it, with fallback).
        resume_from = cfg.get('load_from') or find_latest_checkpoint(
            cfg.work_dir
        )
        if resume_from is not None:
            ckpt = resolve_resume_checkpoint(resume_from, args.resume_fallback)
            if ckpt != resume_from:
                cfg.load_from = ckpt
    else:
        # Fail before anything is built if a named checkpoint is missing.
        check_checkpoint_path(cfg.get('load_from'), 'load_from')

    if args.allow_partial_load:
        cfg.allow_partial_load = True
    set_allow_partial_load(bool(cfg.get('allow_partial_load', False)))

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.train()
    teardown_launcher()


if __name__ == '__main__':
    main()
