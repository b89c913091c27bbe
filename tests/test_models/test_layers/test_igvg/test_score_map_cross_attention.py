import math

import torch

from mmgres.models.layers import ScoreMapCrossAttention

DEFAULT_ARGS = dict(
    embed_dims=8,
    num_heads=2,
    ffn_cfg=dict(feedforward_channels=16, ffn_drop=0.0),
)


def _identity_qk(attn):
    with torch.no_grad():
        for proj in (attn.q_proj, attn.k_proj):
            proj.weight.copy_(torch.eye(attn.embed_dims))
            proj.bias.zero_()


def test_logits_are_head_averaged_scaled_dot_products():
    """With identity q/k projections and 2 heads of 4 channels, the map is
    mean_h (q_h · k_h) / sqrt(4) = (q · k) / (2 * 2)."""
    attn = ScoreMapCrossAttention(**DEFAULT_ARGS).eval()
    _identity_qk(attn)
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    out, logits = attn(q, k)
    assert out.shape == (2, 3, 8) and logits.shape == (2, 3, 5)
    torch.testing.assert_close(logits, q @ k.transpose(1, 2) / 4)


def test_one_hand_value():
    attn = ScoreMapCrossAttention(**dict(DEFAULT_ARGS, num_heads=1)).eval()
    _identity_qk(attn)
    q = torch.zeros(1, 1, 8)
    q[0, 0, 0] = 2.0
    k = torch.zeros(1, 2, 8)
    k[0, 0, 0] = 3.0  # q·k = 6, / sqrt(8)
    k[0, 1, 1] = 3.0  # q·k = 0
    _, logits = attn(q, k)
    torch.testing.assert_close(
        logits, torch.tensor([[[6 / math.sqrt(8), 0.0]]])
    )


def test_key_pos_enters_the_keys_only():
    attn = ScoreMapCrossAttention(**DEFAULT_ARGS).eval()
    torch.manual_seed(1)
    q, k, pos = (
        torch.randn(1, 3, 8),
        torch.randn(1, 4, 8),
        torch.randn(1, 4, 8),
    )
    _, with_pos = attn(q, k, key_pos=pos)
    _, shifted = attn(q, k + pos)
    torch.testing.assert_close(with_pos, shifted)


def test_padded_keys_get_no_attention():
    attn = ScoreMapCrossAttention(**DEFAULT_ARGS).eval()
    torch.manual_seed(2)
    q, k = torch.randn(1, 3, 8), torch.randn(1, 6, 8)
    pad = torch.tensor([[False] * 4 + [True] * 2])
    out1, _ = attn(q, k, key_padding_mask=pad)
    k[:, 4:] = 100.0
    out2, _ = attn(q, k, key_padding_mask=pad)
    torch.testing.assert_close(out1, out2)


def test_logits_only_mode():
    attn = ScoreMapCrossAttention(
        **dict(DEFAULT_ARGS, with_query_update=False)
    )
    assert not hasattr(attn, 'v_proj') and not hasattr(attn, 'ffn')
    out, logits = attn(torch.randn(2, 3, 8), torch.randn(2, 5, 8))
    assert out is None and logits.shape == (2, 3, 5)
