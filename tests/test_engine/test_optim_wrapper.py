import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmgres.engine  # noqa: F401
from mmgres.engine import CPUAutocastOptimWrapper


def test_cpu_autocast_runs_forward_in_bf16():
    model = torch.nn.Linear(4, 2)
    # as the runner builds it, under the config's default scope
    with DefaultScope.overwrite_default_scope('mmgres'):
        wrapper = build_optim_wrapper(
            model,
            dict(
                type='CPUAutocastOptimWrapper',
                optimizer=dict(type='SGD', lr=0.1),
            ),
        )
    assert isinstance(wrapper, CPUAutocastOptimWrapper)
    x = torch.randn(3, 4)
    with wrapper.optim_context(model):
        y = model(x)
    assert y.dtype == torch.bfloat16
    assert model(x).dtype == torch.float32  # only inside the context
    before = model.weight.detach().clone()
    wrapper.update_params(y.float().sum())
    assert model.weight.dtype == torch.float32  # master weights stay fp32
    assert not torch.equal(before, model.weight)


def test_cpu_autocast_rejects_fp16():
    with pytest.raises(ValueError, match='bfloat16'):
        CPUAutocastOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), 0.1),
        )
