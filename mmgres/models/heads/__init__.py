# Copyright (c) mmgres contributors. All rights reserved.
from .gsva_mask_head import GSVAMaskHead
from .igvg_head import IGVGHead
from .instalign_head import InstAlignHead
from .no_target_branch import NoTargetBranch
from .region_aware_head import RegionAwareHead

__all__ = ['InstAlignHead']
__all__ += ['GSVAMaskHead']
__all__ += ['NoTargetBranch']
__all__ += ['RegionAwareHead']
__all__ += ['IGVGHead']
