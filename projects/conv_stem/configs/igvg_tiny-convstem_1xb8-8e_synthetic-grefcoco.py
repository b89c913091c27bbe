# Tiny IGVG with a convolutional stem: BEiT-3's 16x16 patchify projection
# is replaced by four stride-2 3x3 convolutions (ConvStemBEiT3, Xiao et al.
# 2021), the same 8x8 tokens. Trained on the objects' shapes alone, the
# tiny BEiT-3 with the patchify stem stays at chance (27.2 % on val after
# 300 iterations, configs/raam/README.md). 8 epochs instead of 5.
_base_ = ['../../../configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py']

custom_imports = dict(
    imports=['projects.conv_stem.conv_stem.beit3'], allow_failed_imports=False
)

max_epochs = 8

model = dict(backbone=dict(type='ConvStemBEiT3'))

train_cfg = dict(max_epochs=max_epochs, val_interval=2)
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
