# Copyright (c) mmgres contributors. All rights reserved.
from .deepspeed_optim_wrapper import GlooDeepSpeedOptimWrapper
from .fsdp_wrap_policy import layer_class_name_wrap_policy
from .hooks import GroundingVisualizationHook
from .optim_wrapper import CPUAutocastOptimWrapper

__all__ = [
    'CPUAutocastOptimWrapper',
    'GlooDeepSpeedOptimWrapper',
    'GroundingVisualizationHook',
    'layer_class_name_wrap_policy',
]
