# Copyright (c) mmgres contributors. All rights reserved.
import torch
from mmdet.models.layers.transformer import (
    DeformableDetrTransformerDecoderLayer,
)

from projects.igvg_extensions.igvg_extensions import (
    TextDeformableDetrDecoderLayer,
    TextDeformableDetrTransformerDecoder,
)

C = 16
LAYER_CFG = dict(
    self_attn_cfg=dict(embed_dims=C, num_heads=2, batch_first=True),
    cross_attn_cfg=dict(
        embed_dims=C, num_heads=2, num_levels=2, num_points=2, batch_first=True
    ),
    ffn_cfg=dict(embed_dims=C, feedforward_channels=32),
)
SHAPES = torch.tensor([[4, 4], [2, 2]])
START = torch.tensor([0, 16])


def _inputs(bsz=2, queries=3, words=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(bsz, queries, C, generator=g)
    pos = torch.randn(bsz, queries, C, generator=g)
    value = torch.randn(bsz, 20, C, generator=g)
    ref = torch.rand(bsz, queries, 2, 2, generator=g)
    text = torch.randn(bsz, words, C, generator=g)
    pad = torch.zeros(bsz, words, dtype=torch.bool)
    pad[0, 3:] = True
    return query, pos, value, ref, text, pad


def _run(layer, query, pos, value, ref, **kwargs):
    return layer(
        query,
        query_pos=pos,
        value=value,
        key_padding_mask=torch.zeros(value.shape[:2], dtype=torch.bool),
        spatial_shapes=SHAPES,
        level_start_index=START,
        valid_ratios=torch.ones(value.shape[0], 2, 2),
        reference_points=ref,
        **kwargs,
    )


def test_without_words_it_is_mmdets_layer():
    torch.manual_seed(0)
    ours = TextDeformableDetrDecoderLayer(
        text_attn_cfg=dict(num_heads=2), **LAYER_CFG
    ).eval()
    ref_layer = DeformableDetrTransformerDecoderLayer(**LAYER_CFG).eval()
    missing, unexpected = ref_layer.load_state_dict(
        ours.state_dict(), strict=False
    )
    assert not missing
    assert unexpected and all(
        k.startswith(('text_attn.', 'text_norm.')) for k in unexpected
    )
    query, pos, value, ref, _, _ = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            _run(ours, query, pos, value, ref),
            _run(ref_layer, query, pos, value, ref),
        )


def test_the_queries_read_the_words_but_not_the_padding():
    torch.manual_seed(0)
    layer = TextDeformableDetrDecoderLayer(
        text_attn_cfg=dict(num_heads=2), **LAYER_CFG
    )
    query, pos, value, ref, text, pad = _inputs()
    out = _run(
        layer, query, pos, value, ref, text_feats=text, text_padding_mask=pad
    )
    out.sum().backward()
    for p in layer.text_attn.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    layer.eval()  # mmcv's deformable attention has dropout
    with torch.no_grad():
        padded = text.clone()
        padded[0, 3:] = 50.0  # padding of sample 0 only
        changed = text.clone()
        changed[1, 0] = 50.0  # a real word of sample 1
        a = _run(
            layer,
            query,
            pos,
            value,
            ref,
            text_feats=text,
            text_padding_mask=pad,
        )
        b = _run(
            layer,
            query,
            pos,
            value,
            ref,
            text_feats=padded,
            text_padding_mask=pad,
        )
        c = _run(
            layer,
            query,
            pos,
            value,
            ref,
            text_feats=changed,
            text_padding_mask=pad,
        )
        none = _run(layer, query, pos, value, ref)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], c[0])
    assert (a[1] - c[1]).abs().max() > 1e-3
    assert (a - none).abs().max() > 1e-3


def test_decoder_passes_the_words_to_every_layer():
    torch.manual_seed(0)
    decoder = TextDeformableDetrTransformerDecoder(
        text_attn_cfg=dict(num_heads=2),
        num_layers=2,
        layer_cfg=LAYER_CFG,
        post_norm_cfg=None,
        return_intermediate=True,
    )
    assert all(
        isinstance(layer, TextDeformableDetrDecoderLayer)
        for layer in decoder.layers
    )
    query, pos, value, ref, text, pad = _inputs()
    hidden, refs = decoder(
        query=query,
        query_pos=pos,
        value=value,
        key_padding_mask=torch.zeros(value.shape[:2], dtype=torch.bool),
        reference_points=ref[:, :, 0],
        spatial_shapes=SHAPES,
        level_start_index=START,
        valid_ratios=torch.ones(2, 2, 2),
        text_feats=text,
        text_padding_mask=pad,
    )
    assert hidden.shape == (2, 2, 3, C)
    hidden[-1].sum().backward()
    for layer in decoder.layers:
        w = layer.text_attn.attn.in_proj_weight
        assert w.grad is not None and w.grad.abs().sum() > 0
