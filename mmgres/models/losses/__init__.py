# Copyright (c) mmgres contributors. All rights reserved.
from .poa_loss import POALoss, phrase_features, poa_distance

__all__ = ['POALoss', 'phrase_features', 'poa_distance']
