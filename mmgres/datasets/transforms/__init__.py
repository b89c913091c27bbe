# Copyright (c) mmgres contributors. All rights reserved.
from .class_mask import LoadClassMask
from .clip_input import CLIPImageInput
from .formatting import PackReferringInputs
from .loading import LoadImageFromFile, LoadReferringAnnotations
from .text_flip import FlipTestTimeAug, RandomFlip, swap_words

__all__ = [
    'FlipTestTimeAug',
    'CLIPImageInput',
    'LoadImageFromFile',
    'LoadClassMask',
    'LoadReferringAnnotations',
    'PackReferringInputs',
    'RandomFlip',
    'swap_words',
]
