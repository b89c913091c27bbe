# Tiny InstAlign on the synthetic gRefCOCO-format benchmark: the default
# model of the README's main command; trains on a 2-core CPU in minutes.
# Everything here is ours (shrunk for CPU); the architecture and losses are
# the paper's (configs/_base_/models/instalign_swin-b_bert-base.py).
_base_ = [
    '../_base_/models/instalign_swin-b_bert-base.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/default_runtime.py',
]

dims = 64

model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=128,
        embed_dims=32,
        depths=[1, 1, 2, 1],
        num_heads=[1, 2, 4, 8],
        window_size=4,
        mlp_ratio=2,
        qkv_bias=True,
        drop_path_rate=0.0,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        convert_weights=False,
        init_cfg=None,
    ),
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=64,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=32,
        ),
        pretrained=False,
        tokenizer={{_base_.synthetic_wordpiece}},  # the benchmark's words
        max_length=16,
        pooling='cls',
    ),
    head=dict(
        in_channels=[32, 64, 128, 256],
        text_channels=64,
        feat_channels=dims,
        out_channels=dims,
        num_queries=10,
        pixel_decoder=dict(
            norm_cfg=dict(type='GN', num_groups=8),
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=dims, num_heads=4, num_points=2
                    ),
                    ffn_cfg=dict(
                        embed_dims=dims, feedforward_channels=dims * 2
                    ),
                ),
            ),
            positional_encoding=dict(num_feats=dims // 2),
        ),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                cross_attn_cfg=dict(embed_dims=dims, num_heads=4),
                text_attn_cfg=dict(embed_dims=dims, num_heads=4),
                ffn_cfg=dict(embed_dims=dims, feedforward_channels=dims * 4),
            ),
        ),
    ),
    train_cfg=dict(num_points=1024),
    test_cfg=dict(max_per_image=10),
)

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.05,
        by_epoch=True,
        begin=0,
        end=8,
        convert_to_iter_based=True,
    ),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
log_processor = dict(by_epoch=True)

# --tta: InstAlign's rule is p_NT > nt_thr, so the views' mean p_NT is
# thresholded (on the synthetic benchmark this beat a vote of the views)
tta_model = dict(nt_thr=0.5)
