# RaAM-RVG (ViT-B + BERT-base-uncased), the paper's default model, for GRES.
# The paper gives: ViT-B split into K = 4 stages, BERT-base, N = 16 anchors
# (a 4x4 region grid), anchors initialised in the first J = 2 stages,
# beta = 1.2 (Sec. 4.2). Values marked "ours" are not given by the paper.
# The task is the head's `mode`: 'gres' here; joint REC+RES configs set
# 'rec_res', and the direct-interaction baseline sets
# backbone.interaction='direct'. Spelled out without bases, so that the
# Swin-B and tiny models that inherit it stay three levels deep.

# ours: the paper says only "pretrained vision ... models" (ViT-Base). We
# use timm's vit_base_patch16_224.augreg_in21k: ViT-B/16 pretrained on
# ImageNet-21k at 224x224 (AugReg, "How to train your ViT", 300 epochs; the
# timm/vit_base_patch16_224.augreg_in21k hub repo, model.safetensors),
# converted to mmseg keys with
#   python tools/model_converters/vit2mmgres.py model.safetensors \
#       pretrain/vit-base-p16_in21k_mmseg.pth
# Its 14x14 position table is resized (bicubic) to img_size at load. Put
# the file there, or override model.backbone.vision.init_cfg.checkpoint.
pretrained = 'pretrain/vit-base-p16_in21k_mmseg.pth'

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
    type='RaAMRVG',
    data_preprocessor=data_preprocessor,
    # BERT-base-uncased, built offline with random weights; `pretrained`
    # loads the real ones (hub name or local directory) in init_weights()
    text_encoder=dict(
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
        # RaAM reads only the word features: no sentence embedding (BERT's
        # pooler is then frozen, as nothing would train it)
        pooling=None,
    ),
    backbone=dict(
        type='AnchoredVisionBackbone',
        vision=dict(
            type='mmseg.VisionTransformer',
            img_size=(480, 480),  # ours: the 480x480 input of the datasets
            patch_size=16,
            in_channels=3,
            # timm's patch embedding has a bias (mmseg's default is False,
            # which would leave patch_embed.proj.bias unloaded)
            patch_bias=True,
            embed_dims=768,
            num_layers=12,
            num_heads=12,
            mlp_ratio=4,
            qkv_bias=True,
            drop_rate=0.0,
            attn_drop_rate=0.0,
            drop_path_rate=0.1,  # ours
            with_cls_token=True,
            final_norm=False,  # ours: Eq. 7 already ends with a LayerNorm
            norm_cfg=dict(type='LN', eps=1e-6),
            act_cfg=dict(type='GELU'),
            interpolate_mode='bicubic',
            init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        ),
        interaction='anchor',  # 'direct': LAVT's PWAM (Table 5(a))
        num_stages=4,  # K = 4
        num_anchors=16,  # N = 16
        region_grid=(4, 4),
        num_init_stages=2,  # J = 2
    ),
    neck=dict(type='HierarchicalLayerFusion'),  # Eq. 9, no parameters
    head=dict(
        type='RegionAwareHead',
        mode='gres',
        start_level=1,  # Eq. 10: stages 2..K
        hidden_channels=256,  # ours
        presence_layers=2,  # ours
        box_layers=3,  # ours
        mask_layers=2,  # ours
        mask_upsample=4,  # ours: stride-4 mask logits
        # lambda_1..lambda_5 of Eq. 14/15 are not given: ours 1 for each.
        # Inside L_p^det smooth-L1 and GIoU add 1:1 as Eq. 13 prints them.
        loss_region=dict(type='RegionPresenceLoss', loss_weight=1.0),
        loss_mask=dict(
            type='BoundaryWeightedLoss',
            beta=1.2,  # paper
            kernel_size=3,  # ours: the band is 1 px on each side
            loss_weight=1.0,
        ),
        # beta ours: 0.01 of the input (4.8 px at 480), so that the loss is
        # L1 for every box error that matters; mmdet's default beta = 1 is
        # 0.5 * L2 on [0, 1] boxes (see RegionAwareHead)
        loss_bbox=dict(type='SmoothL1Loss', beta=0.01, loss_weight=1.0),
        loss_giou=dict(type='GIoULoss', loss_weight=1.0),
    ),
    test_cfg=dict(
        presence_thr=0.5,  # ours: no target when every sigma(delta_n) < 0.5
        mask_thr=0.5,
    ),
)
