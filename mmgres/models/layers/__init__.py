# Copyright (c) mmgres contributors. All rights reserved.
from .text_conditioned_decoder import (
    TextConditionedDecoderLayer,
    TextConditionedTransformerDecoder,
)

__all__ = ['TextConditionedDecoderLayer', 'TextConditionedTransformerDecoder']
