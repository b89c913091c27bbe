# Tiny IGVG on the synthetic gRefCOCO-format benchmark: trains on a 2-core
# CPU in minutes. Everything here is ours (shrunk for CPU: a tiny random
# BEiT-3, 64 channels, 2 decoder layers, no dropout, 128x128 images); the
# architecture, matching, losses and post-processing are the paper's
# (configs/_base_/models/igvg_beit3-base.py).
_base_ = [
    '../_base_/models/igvg_beit3-base.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/default_runtime.py',
]

dims = 64
img_size = 128  # square and a multiple of 16, as BEiT-3 needs
max_epochs = 5

model = dict(
    backbone=dict(
        _delete_=True,
        type='BEiT3',
        arch=dict(
            embed_dims=128,
            num_layers=4,
            num_heads=4,
            ffn_dims=256,
            vocab_size=64,
            max_source_positions=32,
        ),
        img_size=img_size,
        patch_size=16,
        out_channels=dims,
        tokenizer={{_base_.synthetic_wordpiece}},  # the benchmark's words
        max_length=16,
    ),
    neck=dict(in_channels=dims, out_channels=dims),
    head=dict(
        embed_dims=dims,
        mask_decoder=dict(feat_channels=dims, num_convs=1),
        nt_branch=dict(feat_channels=dims),
        aqg=dict(
            cross_attention=dict(
                num_heads=4,
                ffn_cfg=dict(feedforward_channels=dims * 2, ffn_drop=0.0),
            ),
        ),
        # DETR weights 1 : 1 : 0.4 instead of InstanceVG's (1 : 5 : 2) x 0.1:
        # which query is the referred object is what a random model learns
        # slowest
        loss_cls=dict(loss_weight=1.0),
        loss_bbox=dict(loss_weight=1.0),
        loss_iou=dict(loss_weight=0.4),
        decoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4, dropout=0.0),
                cross_attn_cfg=dict(
                    embed_dims=dims, num_heads=4, num_points=4, dropout=0.0
                ),
                ffn_cfg=dict(
                    embed_dims=dims,
                    feedforward_channels=dims * 2,
                    ffn_drop=0.0,
                ),
            ),
        ),
    ),
)

# GRES, GREC (F1 at IoU 0.5 and 0.7, N-acc) and CoverAcc in one run; the
# test pipeline loads the ground-truth boxes (LoadReferringAnnotations).
val_evaluator = [
    dict(type='GRESMetric'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
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
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
log_processor = dict(by_epoch=True)

# --tta: IGVG's "no target" is "no query kept", and the merged instances
# are empty only when every view keeps none
tta_model = dict(nt_vote=1.0)
