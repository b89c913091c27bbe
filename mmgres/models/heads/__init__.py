# Copyright (c) mmgres contributors. All rights reserved.
from .instalign_head import InstAlignHead

__all__ = ['InstAlignHead']
