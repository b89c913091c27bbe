# Copyright (c) mmgres contributors. All rights reserved.
from .instalign_ext_head import InstAlignExtHead

__all__ = ['InstAlignExtHead']
