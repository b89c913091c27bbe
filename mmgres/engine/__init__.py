# Copyright (c) mmgres contributors. All rights reserved.
from .fsdp_wrap_policy import layer_class_name_wrap_policy
from .hooks import GroundingVisualizationHook
from .optim_wrapper import CPUAutocastOptimWrapper

__all__ = [
    'CPUAutocastOptimWrapper',
    'GroundingVisualizationHook',
    'layer_class_name_wrap_policy',
]
