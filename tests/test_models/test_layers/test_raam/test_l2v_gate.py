import pytest
import torch

from mmgres.models.layers import L2VGate
from mmgres.registry import MODELS


def _hand_gate(use_gate=True):
    """The worked example of the docstring."""
    gate = L2VGate(2, 2, use_gate=use_gate)
    with torch.no_grad():
        if use_gate:
            conv1, conv2 = gate.gamma[0], gate.gamma[2]
            conv1.weight.copy_(
                torch.tensor([[1.0, 1.0], [0.0, -1.0]])[..., None]
            )
            conv2.weight.copy_(
                torch.tensor([[0.0, 2.0], [1.0, 0.0]])[..., None]
            )
            conv1.bias.zero_()
            conv2.bias.zero_()
        gate.proj.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        gate.proj.bias.copy_(torch.tensor([0.0, -1.0]))
    return gate


P_L = torch.tensor([[[1.0, -1.0]]])
P_PREV = torch.tensor([[[0.5, 0.5]]])


def test_gate_by_hand():
    gate = _hand_gate()
    # W1 P^L = [0, 1] -> ReLU [0, 1] -> W2 [2, 0] -> tanh [0.9640, 0]
    t2 = 0.9640275800758169  # tanh(2)
    torch.testing.assert_close(gate.gate(P_L), torch.tensor([[[t2, 0.0]]]))
    # γ ⊙ P^L + P_prev = [t2 + 0.5, 0.5] -> Linear -> [t2 + .5, t2 + 0]
    out = gate(P_L, P_PREV)
    torch.testing.assert_close(out, torch.tensor([[[t2 + 0.5, t2]]]))


def test_without_gate_is_the_linear_ablation():
    gate = _hand_gate(use_gate=False)
    assert not hasattr(gate, 'gamma')
    # Linear(P^L + P_prev) = W [1.5, -0.5] + b = [1.5, 0]
    torch.testing.assert_close(gate(P_L, P_PREV), torch.tensor([[[1.5, 0.0]]]))


def test_gate_range_and_width_change():
    gate = MODELS.build(dict(type='L2VGate', in_channels=6, out_channels=10))
    p = torch.randn(2, 16, 6)
    g = gate.gate(p)
    assert g.shape == (2, 16, 6)
    assert (g.abs() < 1).all() and (g != 0).any()
    assert gate(p, torch.randn(2, 16, 6)).shape == (2, 16, 10)


@pytest.mark.parametrize('zero_layer', [0, 2])
def test_zero_conv_closes_the_gate(zero_layer):
    gate = L2VGate(4, 4)
    with torch.no_grad():
        gate.gamma[zero_layer].weight.zero_()
        gate.gamma[zero_layer].bias.zero_()
        gate.gamma[2].bias.zero_()
    # γ = tanh(0) = 0: only P_prev goes through
    p_l, p_prev = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    torch.testing.assert_close(gate(p_l, p_prev), gate.proj(p_prev))
