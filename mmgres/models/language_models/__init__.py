# Copyright (c) mmgres contributors. All rights reserved.
from .hf_text_encoder import KNOWN_TEXT_ARCHS, HFTextEncoder

__all__ = ['HFTextEncoder', 'KNOWN_TEXT_ARCHS']
