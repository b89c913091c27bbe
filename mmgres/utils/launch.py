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
    * wrap the model with ``MMDistributedDataParallel(device_ids=None)``.
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
