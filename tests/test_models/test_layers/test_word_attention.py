import torch

from mmgres.models.layers import build_word_attention


def test_build_word_attention_defaults_and_residual():
    attn, norm = build_word_attention(dict(num_heads=2), 8)
    assert attn.batch_first and attn.embed_dims == 8
    assert norm.normalized_shape == (8,)
    q, words = torch.randn(2, 5, 8), torch.randn(2, 3, 8)
    out = attn(query=q, key=words, value=words)
    # mmcv's attention adds the query back (identity): zero the output
    # projection and only the residual is left
    torch.nn.init.zeros_(attn.attn.out_proj.weight)
    torch.nn.init.zeros_(attn.attn.out_proj.bias)
    torch.testing.assert_close(attn(query=q, key=words, value=words), q)
    assert out.shape == q.shape
    wide, _ = build_word_attention(dict(num_heads=2, embed_dims=16), 16)
    assert wide.embed_dims == 16
