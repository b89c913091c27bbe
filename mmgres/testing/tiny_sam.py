# Copyright (c) mmgres contributors. All rights reserved.
"""A tiny random SAM (``SamConfig`` kwargs) for tests and tiny configs."""


def tiny_sam_cfg(
    image_size: int = 64, patch_size: int = 8, channels: int = 32
) -> dict:
    """``SamConfig`` kwargs of a tiny random SAM for tests and tiny configs:
    a 2-layer ViT of width 32 and a mask decoder of width ``channels``."""
    return dict(
        vision_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            global_attn_indexes=[1],
            mlp_dim=64,
            output_channels=channels,
            image_size=image_size,
            patch_size=patch_size,
            window_size=4,
            num_pos_feats=channels // 2,
        ),
        prompt_encoder_config=dict(
            hidden_size=channels,
            image_size=image_size,
            patch_size=patch_size,
        ),
        mask_decoder_config=dict(
            hidden_size=channels,
            mlp_dim=channels * 2,
            num_attention_heads=2,
            iou_head_hidden_dim=channels,
        ),
    )
