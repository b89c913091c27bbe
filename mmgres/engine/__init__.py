# Copyright (c) mmgres contributors. All rights reserved.
from .optim_wrapper import CPUAutocastOptimWrapper

__all__ = ['CPUAutocastOptimWrapper']
