# Tiny IGVG for the synthetic gRefCOCO-format benchmark on a CPU: the
# paper's model (igvg_beit3-base.py: architecture, AQG, matching, losses,
# post-processing) shrunk. Every size below is ours: a random 4-layer
# BEiT-3 of width 128 on 128x128 images, C = 64, 2 decoder layers, no
# dropout. 1.78 M parameters.
_base_ = ['./igvg_beit3-base.py']

dims = 64  # ours: C
img_size = 128  # ours; square and a multiple of 16, as BEiT-3 needs

model = dict(
    backbone=dict(
        _delete_=True,
        type='BEiT3',
        arch=dict(  # ours: random init (std 0.02), no pretrained weights
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
        # WordPiece over the benchmark's 44 words (the dataset config's
        # `synthetic_wordpiece`)
        tokenizer=dict(type='SyntheticWordPieceTokenizer'),
        max_length=16,  # ours
    ),
    neck=dict(in_channels=dims, out_channels=dims),
    head=dict(
        embed_dims=dims,
        mask_decoder=dict(feat_channels=dims, num_convs=1),  # ours
        nt_branch=dict(feat_channels=dims),
        aqg=dict(
            cross_attention=dict(
                num_heads=4,  # ours
                ffn_cfg=dict(feedforward_channels=dims * 2, ffn_drop=0.0),
            ),
        ),
        # ours: DETR weights 1 : 1 : 0.4 instead of InstanceVG's
        # (1 : 5 : 2) x 0.1; which query is the referred object is what a
        # random model learns slowest
        loss_cls=dict(loss_weight=1.0),
        loss_bbox=dict(loss_weight=1.0),
        loss_iou=dict(loss_weight=0.4),
        decoder=dict(
            num_layers=2,  # ours
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
