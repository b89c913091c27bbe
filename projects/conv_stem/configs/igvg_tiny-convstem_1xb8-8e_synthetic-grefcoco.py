# Tiny IGVG (configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py) with a
# convolutional stem: BEiT-3's 16x16 patchify projection is replaced by four
# stride-2 3x3 convolutions (ConvStemBEiT3, Xiao et al. 2021), the same 8x8
# tokens. Trained on the objects' shapes alone, the tiny BEiT-3 with the
# patchify stem stays at chance (27.2 % on val after 300 iterations,
# configs/raam/README.md). 8 epochs instead of 5, validated every 2 (ours).
_base_ = [
    '../../../configs/_base_/models/igvg_tiny.py',
    '../../../configs/_base_/datasets/synthetic_grefcoco.py',
    '../../../configs/_base_/schedules/igvg_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py',
]

custom_imports = dict(
    imports=['projects.conv_stem.conv_stem.beit3'], allow_failed_imports=False
)

model = dict(backbone=dict(type='ConvStemBEiT3'))

# GRES, GREC and the CoverAcc of the reference points in one test run
val_evaluator = [
    dict(type='GRESMetric'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator

max_epochs = 8
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

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
log_processor = dict(by_epoch=True)

# --tta: IGVG's "no target" is "no query kept", so the merged views say
# "no target" only when every view keeps no query
tta_model = dict(nt_vote=1.0)
