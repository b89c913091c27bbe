# Copyright (c) mmgres contributors. All rights reserved.
from .dense_prompt import DensePromptMaskHead
from .rej_weighted import RejWeightedGSVA
from .span_mean import SpanMeanGSVA

__all__ = ['DensePromptMaskHead', 'RejWeightedGSVA', 'SpanMeanGSVA']
