# RaAM-RVG with Swin-B (ImageNet-22K) in place of ViT-B (paper Tables 1-2):
# Swin's own 4 stages are the K = 4 stages. The rest is the ViT-B model's.
# Values marked "ours" are not given by the paper (its appendix, which
# describes non-ViT backbones, is not available to us).
_base_ = ['./raam_vit-b_bert-base.py']

# ours: the official ImageNet-22K Swin-B (window 12, 384), as LAVT uses
pretrained = (
    'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
    'swin_base_patch4_window12_384_22k.pth'
)

model = dict(
    backbone=dict(
        vision=dict(
            _delete_=True,
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
            drop_path_rate=0.3,  # ours, as LAVT
            patch_norm=True,
            with_cp=False,
            convert_weights=True,  # official Swin keys -> mmdet keys
            frozen_stages=-1,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        ),
    ),
    # ours: stages 2..4 (256, 512, 1024 wide) and P_K (1024) are mapped to
    # 256 channels before Eq. 10
    head=dict(region_channels=256),
)
