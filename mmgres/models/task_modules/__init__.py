# Copyright (c) mmgres contributors. All rights reserved.
from .match_costs import ContextFocalLossCost, POACost, RelevanceCost
from .point_cost import PointL1Cost

__all__ = ['RelevanceCost', 'POACost', 'PointL1Cost', 'ContextFocalLossCost']
