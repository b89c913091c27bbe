# Copyright (c) mmgres contributors. All rights reserved.
from .sam import KNOWN_SAM_ARCHS, HFSamSegmentor, tiny_sam_cfg

__all__ = ['HFSamSegmentor', 'KNOWN_SAM_ARCHS', 'tiny_sam_cfg']
