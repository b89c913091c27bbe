# Copyright (c) mmgres contributors. All rights reserved.
from ._checkpoint import save_random_checkpoint
from ._offline import ensure_offline_tokenizer
from ._utils import DEMO_TEXTS, demo_grounding_inputs
from .tiny_beit3 import tiny_beit3_cfg
from .tiny_llava import tiny_llava_cfg
from .tiny_sam import tiny_sam_cfg
from .tiny_text_encoder import tiny_text_encoder_cfg

__all__ = [
    'demo_grounding_inputs',
    'DEMO_TEXTS',
    'ensure_offline_tokenizer',
    'save_random_checkpoint',
    'tiny_beit3_cfg',
    'tiny_llava_cfg',
    'tiny_sam_cfg',
    'tiny_text_encoder_cfg',
]
