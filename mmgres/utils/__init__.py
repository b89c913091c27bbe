# Copyright (c) mmgres contributors. All rights reserved.
# Before anything imports mmengine.runner: DeepSpeed is imported only when a
# DeepSpeed strategy is built (see deferred_deepspeed).
from . import deferred_deepspeed  # noqa: F401

# isort: split
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import (
    ConfigType,
    InstanceList,
    MultiConfig,
    OptConfigType,
    OptInstanceList,
    OptMultiConfig,
)

from .checkpoint import (
    check_checkpoint_path,
    checkpoint_problem,
    find_intact_checkpoint,
    load_local_checkpoint,
    register_safe_getattr,
    resolve_resume_checkpoint,
    setup_safe_checkpoint_loading,
)
from .hub import hub_offline
from .launch import setup_amp, setup_launcher, teardown_launcher
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules',
    'setup_launcher',
    'teardown_launcher',
    'setup_amp',
    'setup_safe_checkpoint_loading',
    'load_local_checkpoint',
    'register_safe_getattr',
    'check_checkpoint_path',
    'checkpoint_problem',
    'find_intact_checkpoint',
    'resolve_resume_checkpoint',
    'hub_offline',
    'ConfigType',
    'OptConfigType',
    'MultiConfig',
    'OptMultiConfig',
    'InstanceList',
    'OptInstanceList',
    'SampleList',
    'OptSampleList',
]
