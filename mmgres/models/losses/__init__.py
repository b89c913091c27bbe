# Copyright (c) mmgres contributors. All rights reserved.
from .boundary_weighted_loss import BoundaryWeightedLoss, boundary_band
from .class_weighted_bce_loss import ClassWeightedBCELoss
from .poa_loss import POALoss, phrase_features, poa_distance
from .region_presence_loss import (
    RegionPresenceLoss,
    region_presence_targets,
)

__all__ = ['POALoss', 'phrase_features', 'poa_distance']
__all__ += [
    'BoundaryWeightedLoss',
    'boundary_band',
    'RegionPresenceLoss',
    'region_presence_targets',
]
__all__ += ['ClassWeightedBCELoss']
