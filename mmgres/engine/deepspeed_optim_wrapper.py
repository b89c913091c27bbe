# Copyright (c) mmgres contributors. All rights reserved.
import torch
from mmengine._strategy.deepspeed import DeepSpeedOptimWrapper

from mmgres.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class GlooDeepSpeedOptimWrapper(DeepSpeedOptimWrapper):
    """mmengine's ``DeepSpeedOptimWrapper`` with the DeepSpeed engine's
    step under ``torch.no_grad()``, for ZeRO-1/2 on the gloo backend.

    After the optimizer step, ZeRO-1/2 all-gathers the updated partitions
    into its flat bf16/fp16 parameter buffer, which DeepSpeed builds by
    concatenating the parameters with autograd on, so the buffer has
    autograd history. gloo's ``all_gather_into_tensor`` writes into
    ``split`` views of it, which autograd refuses in grad mode ("Output 0 of
    Split is a view and is being modified inplace"); nccl writes the buffer
    whole. ``tools/train.py`` picks this wrapper for a DeepSpeed strategy on
    a CPU-only machine.
    """

    def step(self, **kwargs):
        with torch.no_grad():
            super().step(**kwargs)
