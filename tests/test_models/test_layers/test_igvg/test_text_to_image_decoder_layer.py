"""InstanceVG's query generator (``AQSM.T2I_decoder``) as a registered
part: hand-worked probabilities, an independent re-computation from the
official code's equations, and its use inside AQG."""

import math

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.layers import (
    AdaptiveQueryGenerator,
    TextToImageDecoderLayer,
)


def _ones_layer():
    layer = TextToImageDecoderLayer(
        embed_dims=1,
        num_heads=1,
        attn_drop=0.0,
        ffn_cfg=dict(feedforward_channels=1, ffn_drop=0.0),
    )
    for name, p in layer.named_parameters():
        torch.nn.init.constant_(p, 0.0 if name.endswith('bias') else 1.0)
    return layer.eval()


def test_hand_worked_probabilities():
    # keys F = [0, ln 3]; a one-channel LayerNorm returns its bias (0), so
    # the cross-attention query is the text token T: logits T * [0, ln 3]
    layer = _ones_layer()
    key = torch.tensor([[[0.0], [math.log(3.0)]]])
    text = torch.tensor([[[0.0], [1.0]]])  # two queries, T = 0 and T = 1
    out, probs = layer(text, key)
    assert probs.shape == (1, 2, 2)
    torch.testing.assert_close(
        probs[0], torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    )
    torch.testing.assert_close(out, torch.zeros(1, 2, 1))


def _mha(attn, q, k, v, heads):
    """nn.MultiheadAttention written out: (output, head-mean probs)."""
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    q, k, v = q @ wq.T + bq, k @ wk.T + bk, v @ wv.T + bv
    b, n, c = q.shape
    d = c // heads

    def split(x):
        return x.view(b, -1, heads, d).transpose(1, 2)

    p = (split(q) @ split(k).transpose(-1, -2) / math.sqrt(d)).softmax(-1)
    out = (p @ split(v)).transpose(1, 2).reshape(b, n, c)
    return out @ attn.out_proj.weight.T + attn.out_proj.bias, p.mean(1)


def test_matches_the_official_equations():
    # detrex DetrTransformerDecoder (1 layer, post_norm) with query = 0,
    # query_pos = T, key = F + P, value = F, as InstanceVG's AQSM calls it
    torch.manual_seed(0)
    c, heads = 8, 2
    layer = TextToImageDecoderLayer(
        embed_dims=c,
        num_heads=heads,
        ffn_cfg=dict(feedforward_channels=16, ffn_drop=0.0),
    ).eval()
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    text = torch.randn(2, 3, c)
    img = torch.randn(2, 5, c)
    pos = torch.randn(2, 5, c)

    zero = torch.zeros_like(text)
    # self-attention: query/key = 0 + T, value = 0 (temp_value = query)
    sa, _ = _mha(layer.self_attn, zero + text, zero + text, zero, heads)
    x = F.layer_norm(
        zero + sa, (c,), layer.norms[0].weight, layer.norms[0].bias
    )
    ca, probs = _mha(layer.cross_attn, x + text, img + pos, img, heads)
    x = F.layer_norm(x + ca, (c,), layer.norms[1].weight, layer.norms[1].bias)
    fc1, fc2 = layer.ffn.layers[0][0], layer.ffn.layers[1]
    x = x + fc2(F.relu(fc1(x)))
    x = F.layer_norm(x, (c,), layer.norms[2].weight, layer.norms[2].bias)
    ref = F.layer_norm(x, (c,), layer.post_norm.weight, layer.post_norm.bias)

    out, got_probs = layer(text, img, key_pos=pos)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_probs, probs, rtol=1e-5, atol=1e-6)
    # the self-attention of zero values is a constant: W_o b_v + b_o
    b_v = layer.self_attn.in_proj_bias.chunk(3)[2]
    const = layer.self_attn.out_proj(b_v)
    torch.testing.assert_close(sa, const.expand_as(sa))
    torch.testing.assert_close(got_probs.sum(-1), torch.ones(2, 3))


def test_refuses_logits_only_mode():
    with pytest.raises(ValueError, match='ScoreMapCrossAttention'):
        TextToImageDecoderLayer(embed_dims=8, with_query_update=False)


def test_aqg_max_pools_probabilities():
    # the release's score map: the max over the valid selected tokens of
    # the attention probabilities (a zero-filled slot is not valid)
    torch.manual_seed(1)
    aqg = AdaptiveQueryGenerator(
        embed_dims=8,
        num_queries=3,
        text_selector=dict(
            type='ScoreTextSelector', rank_by='mean', fill_mode='zero'
        ),
        cross_attention=dict(
            type='TextToImageDecoderLayer',
            num_heads=2,
            ffn_cfg=dict(feedforward_channels=16),
        ),
        query_injector=dict(type='InjectTextQuery', num_layers=2),
        score_reduce='max',
    ).eval()
    img = torch.randn(1, 8, 4, 4)
    text = torch.randn(1, 5, 8)
    pad = torch.tensor([[False, False, True, True, True]])  # 2 real tokens
    out = aqg(img, text, pad)
    assert out['text_valid'].tolist() == [[True, True, False]]
    maps = out['attn_maps'][0]
    torch.testing.assert_close(maps.sum((-1, -2)), torch.ones(3))
    torch.testing.assert_close(out['score_map'][0], maps[:2].max(0).values)
