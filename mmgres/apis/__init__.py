# Copyright (c) mmgres contributors. All rights reserved.
from .inferencer import GroundingInferencer, encode_rle

__all__ = ['GroundingInferencer', 'encode_rle']
