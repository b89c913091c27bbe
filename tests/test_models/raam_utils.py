"""Build RaAM-RVG from the real configs, shrunk, and fake batches."""

import copy

from mmengine.config import Config

from mmgres.testing import demo_grounding_inputs, tiny_text_encoder_cfg

VIT_BASE = 'configs/_base_/models/raam_vit-b_bert-base.py'
SWIN_BASE = 'configs/_base_/models/raam_swin-b_bert-base.py'
VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']
TINY_VIT = dict(
    img_size=(64, 64),
    patch_size=8,
    embed_dims=32,
    num_layers=4,
    num_heads=2,
    mlp_ratio=2,
    drop_path_rate=0.0,
    init_cfg=None,
)
TINY_SWIN = dict(
    embed_dims=16,
    depths=[1, 1, 1, 1],
    num_heads=[1, 1, 2, 2],
    window_size=4,
    pretrain_img_size=64,
    drop_path_rate=0.0,
    convert_weights=False,
    init_cfg=None,
)


def shrink_raam(model_cfg, mode='gres', arch='vit', **backbone_kwargs):
    """The real RaAM-RVG config with tiny widths and depths (random init,
    no download)."""
    cfg = copy.deepcopy(model_cfg)
    cfg.text_encoder = tiny_text_encoder_cfg(VOCAB, hidden_size=24)
    cfg.backbone.vision.update(TINY_VIT if arch == 'vit' else TINY_SWIN)
    cfg.backbone.update(backbone_kwargs)
    cfg.head.update(mode=mode, hidden_channels=16, mask_upsample=2)
    if arch == 'swin':
        cfg.head.region_channels = 16
    return cfg


def tiny_raam_cfg(mode='gres', arch='vit', **backbone_kwargs):
    base = VIT_BASE if arch == 'vit' else SWIN_BASE
    return shrink_raam(
        Config.fromfile(base).model, mode, arch, **backbone_kwargs
    )


def fake_batch(batch_size=2, size=64, no_target_first=True, seed=0):
    """Inputs and samples: sample 0 is no-target (if asked), the others
    have 2 rectangular instances."""
    return demo_grounding_inputs(
        batch_size=batch_size,
        image_shape=(size, size),
        num_instances=2,
        no_target_first=no_target_first,
        seed=seed,
    )
