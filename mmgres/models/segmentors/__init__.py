# Copyright (c) mmgres contributors. All rights reserved.
from .sam import KNOWN_SAM_ARCHS, HFSamSegmentor

__all__ = ['HFSamSegmentor', 'KNOWN_SAM_ARCHS']
