# Tiny RaAM-RVG with a convolutional stem (ours): the ViT's 8x8 patchify
# projection is replaced by three stride-2 3x3 convolutions (ConvStem;
# Xiao et al. 2021), same 16x16 tokens; everything else is the tiny
# synthetic GRES config's
# (configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py).
# Trained on the objects' shapes alone, the tiny ViT stays at chance
# (25.0 % on val after 300 iterations) with the patchify stem and reaches
# 94.8 % with this one; end to end it does not help RaAM (val gIoU 37.82
# after 8 epochs against 45.96 after 7 for the patchify stem). Measured in
# ../README.md.
_base_ = [
    '../../../configs/_base_/models/raam_tiny.py',
    '../../../configs/_base_/datasets/synthetic_grefcoco.py',
    '../../../configs/_base_/schedules/raam_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py',
]

custom_imports = dict(
    imports=['projects.conv_stem.conv_stem.anchored_backbone'],
    allow_failed_imports=False,
)

model = dict(backbone=dict(type='ConvStemAnchoredVisionBackbone'))

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
