# InstAlign (Swin-B + BERT-base-uncased), the paper's model.
# Values marked "ours" are not given by the paper; the rest follow the paper
# (Sec. 4.1 and supp. 8) or Mask2Former, which the paper says it follows.

# BERT-base-uncased, spelled out so that the model builds offline with random
# weights; `pretrained` loads the real weights (hub name or local directory)
# with transformers' from_pretrained in init_weights() (the paper: BERT).
# Written out here, not inherited, so that the configs built on this one
# stay within 3 levels of inheritance.
text_encoder = dict(
    type='HFTextEncoder',
    name_or_path='bert-base-uncased',
    model_cfg=dict(
        model_type='bert',
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act='gelu',
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    ),
    pretrained=True,
    max_length=20,
    pooling='pooler',
)

pretrained = (
    'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
    'swin_base_patch4_window12_384_22k.pth'
)  # ImageNet-22K Swin-B (paper: "classification weights ... ImageNet22K")

data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
    pad_mask=True,
    mask_pad_value=0,
    # gt_sem_seg follows the mmseg convention (PixelData.data), which mmdet's
    # seg padding does not read; the head pads the merged mask itself.
    pad_seg=False,
)

model = dict(
    type='InstAlign',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='SwinTransformer',
        pretrain_img_size=384,
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=12,
        mlp_ratio=4,
        qkv_bias=True,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.3,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        with_cp=False,
        convert_weights=True,
        frozen_stages=-1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
    ),
    text_encoder=text_encoder,
    head=dict(
        type='InstAlignHead',
        in_channels=[128, 256, 512, 1024],
        strides=[4, 8, 16, 32],
        text_channels=768,
        feat_channels=256,
        out_channels=256,
        num_queries=100,  # paper: N = 100
        num_transformer_feat_level=3,
        pixel_decoder=dict(
            type='MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=6,  # paper: 6 deformable layers
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=256,
                        num_heads=8,
                        num_levels=3,
                        num_points=4,
                        dropout=0.0,
                        batch_first=True,
                    ),
                    ffn_cfg=dict(
                        embed_dims=256,
                        feedforward_channels=1024,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=dict(type='ReLU', inplace=True),
                    ),
                ),
            ),
            positional_encoding=dict(num_feats=128, normalize=True),
        ),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=128, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=9,  # Mask2Former's 9 blocks (paper: "L blocks")
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=256, num_heads=8, dropout=0.0, batch_first=True
                ),
                cross_attn_cfg=dict(
                    embed_dims=256, num_heads=8, dropout=0.0, batch_first=True
                ),
                # ours: the object-text attention uses the same width/heads
                text_attn_cfg=dict(
                    embed_dims=256, num_heads=8, dropout=0.0, batch_first=True
                ),
                ffn_cfg=dict(
                    embed_dims=256,
                    feedforward_channels=2048,
                    num_fcs=2,
                    ffn_drop=0.0,
                    act_cfg=dict(type='ReLU', inplace=True),
                ),
            ),
            init_cfg=None,
        ),
        # L_inst: relevance 2, mask BCE 5, dice 5 (Mask2Former's weights)
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0
        ),
        # ours (the paper gives no normalisation of Eq. 12): the unmatched
        # queries' relevance BCE weighted 0.1 as Mask2Former's no-object
        # class, the sum over the matched count
        no_object_weight=0.1,
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0,
        ),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0,
        ),
        loss_poa=dict(type='POALoss', loss_weight=1.0),  # ours: λ_poa = 1
        # λ_inst : λ_mask : λ_nt = 1 : 1 : 1 (paper, Table 9.2)
        # L_mask "adopted from ReLA" (Sec. 3.4): at the input resolution,
        # pixels weighted 0.9 (background) / 1.1 (target) as ReLA's
        # criterion.py
        loss_merged=dict(
            type='ClassWeightedBCELoss',
            class_weight=(0.9, 1.1),
            loss_weight=1.0,
        ),
        loss_nt=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0
        ),
    ),
    train_cfg=dict(
        num_points=12544,  # Mask2Former
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='RelevanceCost', weight=2.0),
                dict(
                    type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True
                ),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
                dict(type='POACost', weight=1.0),  # ours: λ_poa = 1
            ],
        ),
        sampler=dict(type='MaskPseudoSampler'),
    ),
    test_cfg=dict(
        score_thr=0.5,  # ours: instances kept when σ(r_i) > 0.5
        mask_thr=0.5,
        nt_thr=0.5,
        max_per_image=100,
    ),
)
