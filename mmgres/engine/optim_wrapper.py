# Copyright (c) mmgres contributors. All rights reserved.
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from mmgres.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """Mixed precision on CPU: the forward pass runs under
    ``torch.autocast('cpu', dtype=torch.bfloat16)``.

    mmengine's ``AmpOptimWrapper`` asserts a GPU (it uses fp16 with a
    ``GradScaler``). bf16 keeps fp32's exponent range, so no loss scaling is
    needed. ``tools/train.py --amp`` picks this wrapper when CUDA is absent.

    Args:
        dtype (str | torch.dtype): Autocast dtype. Only ``'bfloat16'`` is
            supported by CPU autocast. Defaults to ``'bfloat16'``.
        **kwargs: Passed to :class:`~mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype='bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        if dtype != torch.bfloat16:
            raise ValueError(
                f'CPU autocast supports only bfloat16, got {dtype}.'
            )
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(
            'cpu', dtype=self.cast_dtype
        ):
            yield
