# Copyright (c) mmgres contributors. All rights reserved.
from .local_visualizer import GroundingLocalVisualizer

__all__ = ['GroundingLocalVisualizer']
