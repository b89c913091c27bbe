# Copyright (c) mmgres contributors. All rights reserved.
from .llava import KNOWN_LLAVA_ARCHS, LlavaMLLM

__all__ = ['LlavaMLLM', 'KNOWN_LLAVA_ARCHS']
