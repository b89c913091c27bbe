# Copyright (c) mmgres contributors. All rights reserved.
"""Convolutional stems for the ViTs of mmgres' models trained from scratch."""

from .anchored_backbone import ConvStemAnchoredVisionBackbone
from .beit3 import ConvStemBEiT3
from .layers import ConvStem
from .llava import ConvStemLlavaMLLM
from .sam import ConvStemHFSamSegmentor

__all__ = [
    'ConvStem',
    'ConvStemAnchoredVisionBackbone',
    'ConvStemBEiT3',
    'ConvStemHFSamSegmentor',
    'ConvStemLlavaMLLM',
]
