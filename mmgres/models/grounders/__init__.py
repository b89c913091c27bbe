# Copyright (c) mmgres contributors. All rights reserved.
from .base_grounder import BaseGrounder
from .grounding_tta import GroundingTTAModel, mask_nms
from .gsva import GSVA
from .igvg import IGVG
from .instalign import InstAlign
from .raam import RaAMRVG

__all__ = ['BaseGrounder', 'InstAlign']
__all__ += ['GSVA']
__all__ += ['IGVG']
__all__ += ['RaAMRVG']
__all__ += ['GroundingTTAModel', 'mask_nms']
