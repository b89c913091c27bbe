"""Build InstAlign from the real config, shrunk, and fake batches."""

import copy

from mmengine.config import Config

from mmgres.testing import demo_grounding_inputs, tiny_text_encoder_cfg

BASE = 'configs/_base_/models/instalign_swin-b_bert-base.py'
VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']


def shrink_instalign(model_cfg, dims=32, queries=6, layers=2):
    """The real InstAlign config with tiny widths and depths."""
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.update(
        embed_dims=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        pretrain_img_size=64,
        init_cfg=None,
        drop_path_rate=0.0,
    )
    cfg.text_encoder = tiny_text_encoder_cfg(VOCAB, hidden_size=32)
    head = cfg.head
    head.update(
        in_channels=[16, 32, 64, 128],
        text_channels=32,
        feat_channels=dims,
        out_channels=dims,
        num_queries=queries,
    )
    pd = head.pixel_decoder
    pd.norm_cfg = dict(type='GN', num_groups=8)
    pd.encoder.num_layers = 1
    pd.encoder.layer_cfg.self_attn_cfg.update(
        embed_dims=dims, num_heads=4, num_points=2
    )
    pd.encoder.layer_cfg.ffn_cfg.update(
        embed_dims=dims, feedforward_channels=dims * 2
    )
    pd.positional_encoding.num_feats = dims // 2
    head.positional_encoding.num_feats = dims // 2
    td = head.transformer_decoder
    td.num_layers = layers
    for k in ('self_attn_cfg', 'cross_attn_cfg', 'text_attn_cfg'):
        td.layer_cfg[k].update(embed_dims=dims, num_heads=4)
    td.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=dims * 2)
    cfg.train_cfg.num_points = 64
    cfg.test_cfg.max_per_image = queries
    return cfg


def tiny_instalign_cfg(**kwargs):
    return shrink_instalign(Config.fromfile(BASE).model, **kwargs)


def fake_batch(batch_size=2, size=64, no_target_first=True, seed=0):
    """Inputs and samples: sample 0 is no-target, the others have 2
    instances. Masks and merged masks at the padded input size."""
    return demo_grounding_inputs(
        batch_size=batch_size,
        image_shape=(size, size),
        num_instances=2,
        no_target_first=no_target_first,
        seed=seed,
    )
