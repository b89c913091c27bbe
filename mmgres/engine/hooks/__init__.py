# Copyright (c) mmgres contributors. All rights reserved.
from .visualization_hook import GroundingVisualizationHook

__all__ = ['GroundingVisualizationHook']
