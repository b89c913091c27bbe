"""layer_class_name_wrap_policy: the FSDP units are the named layers; the
config form is looked up through mmengine's FUNCTIONS."""

import os
import socket
from functools import partial

import pytest
import torch
import torch.distributed as dist
from mmengine.registry import FUNCTIONS
from torch import nn

from mmgres.engine import layer_class_name_wrap_policy


class LlamaDecoderLayer(nn.Module):  # named like the HF block
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 4)
        self.layers = nn.ModuleList([LlamaDecoderLayer() for _ in range(2)])
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        x = self.embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def test_decisions_by_hand():
    net = Net()
    policy = partial(layer_class_name_wrap_policy, layer_names=['Net2'])
    # always go down into the children
    assert all(policy(m, True, 0) for m in net.modules())
    assert layer_class_name_wrap_policy(net.layers[0], False, 10)
    assert not layer_class_name_wrap_policy(net.layers[0].proj, False, 10)
    assert not layer_class_name_wrap_policy(net, False, 10)
    assert not policy(net.layers[0], False, 10)  # not in layer_names
    assert FUNCTIONS.get('layer_class_name_wrap_policy') is (
        layer_class_name_wrap_policy
    )


@pytest.fixture
def one_rank_group():
    if dist.is_initialized():
        pytest.skip('a process group already exists')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_mmengine_fsdp_wraps_each_named_layer(one_rank_group):
    from mmengine.model import MMFullyShardedDataParallel
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    torch.manual_seed(0)
    net = Net()
    x = torch.randn(3, 4)
    expected = net(x)
    wrapped = MMFullyShardedDataParallel(
        module=net,
        device_id='cpu',  # as mmgres.utils.setup_launcher sets on CPU
        auto_wrap_policy=dict(
            type='layer_class_name_wrap_policy',
            layer_names=['LlamaDecoderLayer'],
        ),
    )
    units = [m for m in wrapped.modules() if isinstance(m, FSDP)]
    # the root plus one unit per decoder layer
    assert len(units) == 3
    inner = [u.module for u in units[1:]]
    assert all(type(m).__name__ == 'LlamaDecoderLayer' for m in inner)
    torch.testing.assert_close(wrapped(x), expected)
