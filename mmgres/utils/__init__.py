# Copyright (c) mmgres contributors. All rights reserved.
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
    load_local_checkpoint,
    register_safe_getattr,
    setup_safe_checkpoint_loading,
)
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
    'ConfigType',
    'OptConfigType',
    'MultiConfig',
    'OptMultiConfig',
    'InstanceList',
    'OptInstanceList',
    'SampleList',
    'OptSampleList',
]
