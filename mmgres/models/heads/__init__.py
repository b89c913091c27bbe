# Copyright (c) mmgres contributors. All rights reserved.
from .gsva_mask_head import GSVAMaskHead
from .igvg import IGVGHead, NoTargetBranch
from .instalign_head import InstAlignHead
from .region_aware_head import RegionAwareHead

__all__ = ['InstAlignHead']
__all__ += ['GSVAMaskHead']
__all__ += ['NoTargetBranch']
__all__ += ['RegionAwareHead']
__all__ += ['IGVGHead']
