import torch

from mmgres.models.layers import (
    TextConditionedDecoderLayer,
    TextConditionedTransformerDecoder,
)

DEFAULT_ARGS = dict(
    self_attn_cfg=dict(embed_dims=16, num_heads=2, dropout=0.0),
    cross_attn_cfg=dict(embed_dims=16, num_heads=2, dropout=0.0),
    text_attn_cfg=dict(embed_dims=16, num_heads=2, dropout=0.0),
    ffn_cfg=dict(embed_dims=16, feedforward_channels=32, ffn_drop=0.0),
)


def _inputs():
    torch.manual_seed(0)
    return dict(
        query=torch.randn(2, 5, 16),
        key=torch.randn(2, 12, 16),
        value=torch.randn(2, 12, 16),
        text_feats=torch.randn(2, 4, 16),
        query_pos=torch.randn(2, 5, 16),
        key_pos=torch.randn(2, 12, 16),
    )


def test_layer_updates_queries_and_words():
    layer = TextConditionedDecoderLayer(**DEFAULT_ARGS).eval()
    inp = _inputs()
    q, t = layer(**inp)
    assert q.shape == (2, 5, 16) and t.shape == (2, 4, 16)
    assert not torch.allclose(t, inp['text_feats'])


def test_text_padding_is_ignored_by_the_queries():
    layer = TextConditionedDecoderLayer(**DEFAULT_ARGS).eval()
    inp = _inputs()
    pad = torch.tensor([[False, False, True, True]] * 2)
    q1, _ = layer(**inp, text_padding_mask=pad)
    inp['text_feats'][:, 2:] = 100.0  # change only the padded words
    q2, _ = layer(**inp, text_padding_mask=pad)
    torch.testing.assert_close(q1, q2)


def test_masked_cross_attention_blocks_keys():
    layer = TextConditionedDecoderLayer(**DEFAULT_ARGS).eval()
    inp = _inputs()
    mask = torch.zeros(2 * 2, 5, 12, dtype=torch.bool)
    mask[:, :, 6:] = True  # block the last 6 visual tokens
    q1, _ = layer(**inp, cross_attn_mask=mask)
    inp['value'][:, 6:] = 50.0
    inp['key'][:, 6:] = -50.0
    q2, _ = layer(**inp, cross_attn_mask=mask)
    torch.testing.assert_close(q1, q2)


def test_decoder_stack():
    dec = TextConditionedTransformerDecoder(
        num_layers=3, layer_cfg=DEFAULT_ARGS
    )
    assert len(dec.layers) == 3 and dec.embed_dims == 16
    assert isinstance(dec.layers[2], TextConditionedDecoderLayer)
