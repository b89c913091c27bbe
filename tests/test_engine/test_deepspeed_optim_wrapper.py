import torch

from mmgres.engine import GlooDeepSpeedOptimWrapper


class _Engine:
    """Records whether autograd was on in the DeepSpeed engine's step."""

    def __init__(self):
        self.grad_enabled = []

    def step(self):
        self.grad_enabled.append(torch.is_grad_enabled())


def test_engine_step_runs_without_autograd():
    param = torch.nn.Parameter(torch.ones(2))
    wrapper = GlooDeepSpeedOptimWrapper(
        optimizer=torch.optim.SGD([param], lr=0.1)
    )
    wrapper.model = _Engine()
    wrapper.step()
    assert wrapper.model.grad_enabled == [False]
    assert torch.is_grad_enabled()
