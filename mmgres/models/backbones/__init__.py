# Copyright (c) mmgres contributors. All rights reserved.
from .anchored_backbone import AnchoredVisionBackbone
from .beit3 import BEIT3_ARCHS, BEiT3
from .beit3_utils import (
    build_beit3_tokenizer,
    import_torchscale,
    interpolate_vision_pos_embed,
)

__all__ = ['AnchoredVisionBackbone']
__all__ += [
    'BEiT3',
    'BEIT3_ARCHS',
    'build_beit3_tokenizer',
    'import_torchscale',
    'interpolate_vision_pos_embed',
]
