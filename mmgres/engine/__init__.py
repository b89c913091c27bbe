# Copyright (c) mmgres contributors. All rights reserved.
from .hooks import GroundingVisualizationHook
from .optim_wrapper import CPUAutocastOptimWrapper

__all__ = ['CPUAutocastOptimWrapper', 'GroundingVisualizationHook']
