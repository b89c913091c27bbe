# Copyright (c) mmgres contributors. All rights reserved.
from .base_grounder import BaseGrounder
from .instalign import InstAlign

__all__ = ['BaseGrounder', 'InstAlign']
