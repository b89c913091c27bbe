# IGVG (BEiT-3 base), the paper's model. Values follow the paper and the
# authors' public code InstanceVG (github Dmmm1997/InstanceVG,
# configs/gres/InstanceVG-grefcoco.py); those marked "ours" are given by
# neither.
img_size = 320  # InstanceVG: 320x320 input, patch 16
embed_dims = 256  # C = 256 (paper)
num_queries = 10  # N_q = 10 (InstanceVG)

# Local files (no hub here): the official BEiT-3 base checkpoint and its
# sentencepiece model (microsoft/unilm beit3 release).
beit3_checkpoint = 'pretrain_weights/beit3_base_patch16_224.pth'
beit3_tokenizer = 'pretrain_weights/beit3.spm'

data_preprocessor = dict(
    type='DetDataPreprocessor',
    # InstanceVG normalises with the ImageNet constants (its img_norm_cfg);
    # the official BEiT-3 code uses mean = std = 0.5 * 255 instead.
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=16,
    pad_mask=True,
    mask_pad_value=0,
    # gt_sem_seg follows mmseg's convention (PixelData.data), which mmdet's
    # seg padding does not read; the head pads the merged mask itself.
    pad_seg=False,
)

model = dict(
    type='IGVG',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='BEiT3',
        arch='base',
        img_size=img_size,
        patch_size=16,
        out_channels=embed_dims,  # image / text projections IP, TP
        drop_path_rate=0.1,  # InstanceVG
        tokenizer=dict(type='BEiT3Tokenizer', vocab_file=beit3_tokenizer),
        max_length=50,  # InstanceVG: max_token = 50
        pad_to_max_length=True,  # InstanceVG pads every sentence to 50
        pretrained=beit3_checkpoint,
    ),
    neck=dict(
        type='SimFPN',
        in_channels=embed_dims,
        out_channels=embed_dims,
        scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
        norm_cfg=dict(type='LN2d'),
    ),
    head=dict(
        type='IGVGHead',
        embed_dims=embed_dims,
        num_queries=num_queries,
        num_levels=4,
        mask_decoder=dict(
            type='UNetMaskDecoder',
            num_convs=2,  # ours: InstanceVG's UNet depth is not in the paper
            norm_cfg=dict(type='BN'),
        ),
        nt_branch=dict(
            # S_global alone (InstanceVG: a 3-layer MLP per pixel, averaged)
            type='NoTargetBranch',
            feat_channels=embed_dims,
            num_pixel_convs=2,
            loss_cls=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                class_weight=[0.9, 1.1],  # ReLA / InstanceVG
                loss_weight=0.2,  # InstanceVG: nt 0.2
            ),
        ),
        aqg=dict(
            type='AdaptiveQueryGenerator',
            use_sts=True,
            use_dps=True,
            use_itq=True,
            text_selector=dict(
                type='ScoreTextSelector', rank_by='l2', fill_mode='repeat'
            ),
            cross_attention=dict(
                type='ScoreMapCrossAttention',
                num_heads=8,
                # InstanceVG: one DETR decoder layer, FFN 512, dropout 0.1
                ffn_cfg=dict(feedforward_channels=512, ffn_drop=0.1),
            ),
            point_selector=dict(
                type='DistScorePointSelector',
                # W_dist (InstanceVG), per map diagonal as InstanceVG
                dist_weight=0.003,
            ),
            query_injector=dict(type='InjectTextQuery', num_layers=3),
            # minimap supervision: (BCE 1 + dice 1) x 0.1 (InstanceVG)
            loss_minimap_bce=dict(
                type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.1
            ),
            loss_minimap_dice=dict(
                type='DiceLoss',
                use_sigmoid=True,
                activate=True,
                naive_dice=True,
                eps=1.0,
                loss_weight=0.1,
            ),
        ),
        decoder=dict(
            num_layers=3,  # InstanceVG
            return_intermediate=True,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=embed_dims,
                    num_heads=8,
                    dropout=0.1,
                    batch_first=True,
                ),
                cross_attn_cfg=dict(
                    embed_dims=embed_dims,
                    num_levels=4,
                    num_heads=8,
                    num_points=4,  # Deformable DETR's default
                    dropout=0.1,
                    batch_first=True,
                ),
                ffn_cfg=dict(
                    embed_dims=embed_dims,
                    feedforward_channels=1024,
                    ffn_drop=0.1,
                ),
            ),
        ),
        # DETR loss: (class 1, L1 5, GIoU 2) x bbox 0.1 (InstanceVG), with
        # DETR's background weight 0.1 in the 2-class CE
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[1.0, 0.1],
            loss_weight=0.1,
        ),
        loss_bbox=dict(type='L1Loss', loss_weight=0.5),
        loss_iou=dict(type='GIoULoss', loss_weight=0.2),
        # instance and global masks: dice 1, BCE 1 (InstanceVG)
        loss_mask=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0,
        ),
        loss_global_mask=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
        loss_global_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0,
        ),
        neg_weight=0.2,  # λ_neg (InstanceVG)
    ),
    train_cfg=dict(
        # point-guided matching: class 1, L1 5, GIoU 2, point 2 (InstanceVG)
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=1.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0),
                dict(type='PointL1Cost', weight=2.0),
            ],
        )
    ),
    test_cfg=dict(
        score_thr=0.7,  # InstanceVG: score_threshold 0.7
        mask_thr=0.5,  # InstanceVG: mask_threshold 0.5
        nt_rule='score',  # no target = no instance kept (InstanceVG)
        max_per_image=num_queries,
    ),
)
