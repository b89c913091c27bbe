# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's head: the global branch (UNet decoder, no-target branch) and the
point-guided instance-aware perception head."""

from .igvg_head import IGVGHead
from .no_target_branch import NoTargetBranch

__all__ = ['IGVGHead', 'NoTargetBranch']
