# Copyright (c) mmgres contributors. All rights reserved.
import pytest
import torch

from mmgres.models.layers import RelativePositionQueryAttention

C = 8


def _block(heads=2):
    torch.manual_seed(0)
    return RelativePositionQueryAttention(C, num_heads=heads)


def _inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 4, C, generator=g), torch.rand(2, 4, 2, generator=g)


def test_formula_by_hand_one_head():
    block = _block(heads=1)
    x, c = _inputs()
    out = block(x, c)
    b, i = 1, 2
    q_in = x[b] + block.abs_pos(c[b])
    q, k, v = block.qkv(q_in).split(C, -1)
    logits, vals = [], []
    for j in range(4):
        r = block.rel_pos(c[b, j] - c[b, i])
        rk, rv = r[:C], r[C:]
        logits.append(q[i] @ (k[j] + rk) / C**0.5)
        vals.append(v[j] + rv)
    attn = torch.stack(logits).softmax(0)
    y = (attn[:, None] * torch.stack(vals)).sum(0)
    expected = block.norm(x[b, i] + block.out_proj(y))
    torch.testing.assert_close(out[b, i], expected, atol=1e-5, rtol=1e-5)


def test_equivariant_to_the_order_of_the_queries():
    block = _block()
    x, c = _inputs()
    perm = torch.tensor([2, 0, 3, 1])
    torch.testing.assert_close(
        block(x, c)[:, perm], block(x[:, perm], c[:, perm])
    )


def test_positions_matter_only_through_the_position_mlps():
    block = _block()
    x, c = _inputs()
    moved = c.clone()
    moved[:, 0] = 1.0 - moved[:, 0]  # query 0's object moves
    base = block(x, c)
    # query 1 sees query 0 elsewhere: its output changes
    assert (block(x, moved)[:, 1] - base[:, 1]).abs().max() > 1e-4
    with torch.no_grad():
        for mlp in (block.abs_pos, block.rel_pos):
            mlp[-1].weight.zero_()
            mlp[-1].bias.zero_()
    torch.testing.assert_close(block(x, c), block(x, moved))


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match='divide'):
        RelativePositionQueryAttention(C, num_heads=3)
