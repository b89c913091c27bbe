# Copyright (c) mmgres contributors. All rights reserved.
from .match_costs import POACost, RelevanceCost

__all__ = ['RelevanceCost', 'POACost']
