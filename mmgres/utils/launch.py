# Copyright (c) mmgres contributors. All rights reserved.
"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``."""

import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Make ``launcher`` work on this machine, GPU or CPU-only.

    With CUDA this only sets ``cfg.launcher``. On a CPU-only machine,
    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and DDP is given
    ``device_ids=[LOCAL_RANK]``, both of which fail, so we:

    * initialise the ``gloo`` process group ourselves (mmengine then skips its
      own ``init_dist``);
    * set ``env_cfg.dist_cfg.backend='gloo'``;
    * wrap the model with ``MMDistributedDataParallel(device_ids=None)``;
      with mmengine's ``FlexibleRunner`` (``runner_type``), the strategy's
      wrapper is set instead (:func:`_cpu_strategy`); with a DeepSpeed
      strategy, DeepSpeed's CPU accelerator is named (``DS_ACCELERATOR``)
      and ``DeepSpeedOptimWrapper`` is replaced by
      :class:`~mmgres.engine.GlooDeepSpeedOptimWrapper`.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(
            f'launcher={launcher!r} needs CUDA here; on a CPU-only machine '
            'use --launcher pytorch (tools/dist_train.sh, torchrun).'
        )
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if cfg.get('strategy') is not None or 'FlexibleRunner' in str(
        cfg.get('runner_type', '')
    ):
        cfg.strategy = _cpu_strategy(cfg.get('strategy'))
        if _strategy_name(cfg.strategy).endswith('DeepSpeedStrategy'):
            # DeepSpeed otherwise probes for CUDA and warns that it fell back
            os.environ.setdefault('DS_ACCELERATOR', 'cpu')
            optim_wrapper = cfg.get('optim_wrapper') or {}
            if optim_wrapper.get('type') == 'DeepSpeedOptimWrapper':
                optim_wrapper['type'] = 'GlooDeepSpeedOptimWrapper'
    else:
        wrapper = dict(cfg.get('model_wrapper_cfg') or {})
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
        print_log(
            f'CPU distributed run: gloo, rank {dist.get_rank()} of '
            f'{dist.get_world_size()} (LOCAL_RANK='
            f'{os.environ.get("LOCAL_RANK")})',
            logger='current',
        )


def teardown_launcher() -> None:
    """Destroy the process group of a distributed run, if there is one.

    Called by ``tools/train.py`` and ``tools/test.py`` when the runner is
    done. A gloo group left for the interpreter's exit to clean up can
    abort a rank at exit ("terminate called without an active exception",
    SIGABRT) after all its work is done, which fails the whole launch.
    """
    if dist.is_available() and dist.is_initialized():
        # all ranks reach this point before any closes its connections: a
        # rank that tears down while another still uses the group makes
        # gloo abort the other one
        dist.barrier()
        dist.destroy_process_group()


def _cpu_strategy(strategy) -> dict:
    """A ``FlexibleRunner`` strategy that runs on CPU processes (gloo).

    mmengine gives its DDP wrapper ``device_ids=[LOCAL_RANK]`` and its FSDP
    wrapper ``device_id=LOCAL_RANK``, both CUDA devices; here DDP gets
    ``device_ids=None`` (the module stays on the CPU) and FSDP
    ``device_id='cpu'`` (without it, torch's FSDP refuses a machine without
    an accelerator). DeepSpeed adopts the gloo process group
    (``deepspeed.initialize``).
    """
    strategy = dict(strategy or dict(type='DDPStrategy'))
    kind = _strategy_name(strategy)
    if kind.endswith('DDPStrategy'):
        wrapper = dict(strategy.get('model_wrapper') or {})
        wrapper.setdefault('type', 'MMDistributedDataParallel')
        wrapper['device_ids'] = None
        strategy['model_wrapper'] = wrapper
    elif kind.endswith('FSDPStrategy'):
        wrapper = dict(strategy.get('model_wrapper') or {})
        wrapper.setdefault('type', 'MMFullyShardedDataParallel')
        wrapper['device_id'] = 'cpu'
        strategy['model_wrapper'] = wrapper
    return strategy


def _strategy_name(strategy: dict) -> str:
    kind = strategy.get('type')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '')


def setup_amp(cfg: Config) -> None:
    """Turn on mixed precision: fp16 ``AmpOptimWrapper`` with CUDA, bf16
    ``CPUAutocastOptimWrapper`` without."""
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    else:
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
        cfg.optim_wrapper.dtype = 'bfloat16'
        print_log(
            '--amp without CUDA: training under bf16 CPU autocast.',
            logger='current',
        )
