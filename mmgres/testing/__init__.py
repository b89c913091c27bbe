# Copyright (c) mmgres contributors. All rights reserved.
from ._checkpoint import save_random_checkpoint
from ._offline import ensure_offline_tokenizer
from ._utils import DEMO_TEXTS, demo_grounding_inputs

__all__ = [
    'demo_grounding_inputs',
    'DEMO_TEXTS',
    'ensure_offline_tokenizer',
    'save_random_checkpoint',
]
