# Tiny RaAM-RVG on the synthetic gRefCOCO-format benchmark (GRES): trains
# on a 2-core CPU in minutes. The architecture and losses are the paper's
# (configs/_base_/models/raam_vit-b_bert-base.py): a ViT split into K = 4
# stages with RaAM after each, N = 16 anchors on a 4x4 region grid, fresh
# anchors in the first J = 2 stages, L_GRES = L_r + L_p^seg with
# beta = 1.2. Everything below is ours, shrunk for the CPU:
# * ViT: 8-pixel patches (16x16 tokens, 4x4 per region), 64 channels,
#   8 layers (2 per stage), 2 heads; a 2-layer BERT of width 64 over the
#   benchmark's own vocabulary; random initialisation;
# * L_p^seg weighted 2 against L_r (a sum over the 16 regions);
# * AdamW lr 1e-3 (nothing is pretrained), 200 warm-up iterations, poly 0.9.
_base_ = [
    '../_base_/models/raam_vit-b_bert-base.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/default_runtime.py',
]

dims = 64
max_epochs = 8

model = dict(
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=64,
            hidden_size=dims,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=dims * 2,
            max_position_embeddings=32,
        ),
        pretrained=False,
        tokenizer={{_base_.synthetic_wordpiece}},  # the benchmark's words
        max_length=16,
        pooling='cls',
    ),
    backbone=dict(
        vision=dict(
            img_size=(128, 128),
            patch_size=8,
            embed_dims=dims,
            num_layers=8,
            num_heads=2,
            mlp_ratio=2,
            drop_path_rate=0.0,
            init_cfg=None,
        ),
    ),
    head=dict(
        hidden_channels=dims,
        mask_upsample=4,  # 16x16 features -> 64x64 mask logits
        loss_mask=dict(loss_weight=2.0),
    ),
)

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
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
