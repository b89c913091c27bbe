# Copyright (c) mmgres contributors. All rights reserved.
from .anchored_backbone import AnchoredVisionBackbone
from .beit3 import BEIT3_ARCHS, BEiT3
from .beit3_utils import import_torchscale, interpolate_vision_pos_embed

__all__ = [
    'AnchoredVisionBackbone',
    'BEiT3',
    'BEIT3_ARCHS',
    'import_torchscale',
    'interpolate_vision_pos_embed',
]
