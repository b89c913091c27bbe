# Tiny IGVG (convolutional stem) that learns the objects, not only the
# referred ones (none of this is in the paper or InstanceVG):
# - context_instances: the DETR matching of every decoder layer runs against
#   every object of the image (the dataset's gt_context_instances). Queries
#   matched to the referred objects get the class "target", queries matched
#   to the other objects "not target" (as unmatched ones), and all matched
#   queries get the box losses and their object's instance mask. mmdet's
#   ClassificationCost reads the other objects' background label as is:
#   they cost -p(not target);
# - num_context_classes=4: the matched queries also learn their object's
#   category (circle, square, triangle, diamond, from instances.json);
# - as the tiny configs these runs started from: the sentence gates the
#   UNet channels and feeds the no-target branch, Q_s = MLP(Q_d) . S_global
#   (3 layers), and the mask losses are computed at stride 4 (CPU).
# The global mask, the no-target branch, the minimap supervision and the
# prediction still see the referred objects only. The train pipeline is the
# base one (128x128 squares, as BEiT-3 needs) with the annotations loaded
# with_context.
_base_ = [
    '../../../configs/_base_/models/igvg_tiny.py',
    '../../../configs/_base_/datasets/synthetic_grefcoco.py',
    '../../../configs/_base_/schedules/igvg_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py',
]

custom_imports = dict(
    imports=[
        'projects.conv_stem.conv_stem.beit3',
        'projects.igvg_extensions.igvg_extensions',
    ],
    allow_failed_imports=False,
)

model = dict(
    backbone=dict(type='ConvStemBEiT3'),
    head=dict(
        type='IGVGExtendedHead',
        mask_decoder=dict(type='TextGatedUNetMaskDecoder', text_channels=64),
        nt_branch=dict(type='SentenceNoTargetBranch', text_channels=64),
        num_mask_embed_layers=3,
        mask_loss_stride=4,
        context_instances=True,
        num_context_classes=4,
    ),
)

train_dataloader = dict(
    dataset=dict(
        with_context=True,
        pipeline=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='LoadReferringAnnotations', with_context=True),
            dict(type='Resize', scale=(128, 128), keep_ratio=False),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackReferringInputs'),
        ],
    )
)

# GRES, GREC and the CoverAcc of the reference points in one test run
val_evaluator = [
    dict(type='GRESMetric'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator

# 8 epochs (as the conv-stem config), validated every 2 (ours)
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
