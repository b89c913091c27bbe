# Copyright (c) mmgres contributors. All rights reserved.
from .hierarchical_fusion import HierarchicalLayerFusion
from .simfpn import SimFPN

__all__ = ['HierarchicalLayerFusion']
__all__ += ['SimFPN']
