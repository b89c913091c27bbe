# Tiny InstAlign that learns the objects, on a 10-epoch schedule at lr 2e-3:
# the default model of tools/quickstart.sh (about 19 minutes alone on a
# 2-core CPU). All of it is ours, none of it is in the paper (results in
# ../README.md):
# - a ResNet-18 with 16 base channels instead of the tiny Swin (it learns
#   the benchmark's shapes, which the tiny Swin confuses);
# - context_instances and num_context_classes=4: every object of the image
#   is matched (relevance target 1 for the expression's targets, 0 for the
#   others) and its category learnt;
# - a dice term on IA's merged mask, no-target samples weighted 4,
#   pixel-word attention, positions in the mask features, union output;
# - lr 2e-3 for 10 epochs (instalign_tiny-r18_1xb8-8e_...: 1e-3 for 8).
_base_ = [
    '../../../configs/_base_/models/instalign_tiny.py',
    '../../../configs/_base_/datasets/synthetic_grefcoco.py',
    '../../../configs/_base_/schedules/instalign_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py',
]

custom_imports = dict(
    imports=['projects.instalign_extensions.instalign_extensions'],
    allow_failed_imports=False,
)

epochs = 10

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmdet.ResNet',
        depth=18,
        base_channels=16,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None,
    ),
    head=dict(
        type='InstAlignExtHead',
        in_channels=[16, 32, 64, 128],
        loss_merged_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=1.0,
        ),
        # no-target samples weighted 4 (target samples 1) in the no-target
        # BCE, over the sum of the weights
        loss_nt=dict(
            _delete_=True,
            type='ClassWeightedBCELoss',
            class_weight=(1.0, 4.0),
            loss_weight=1.0,
        ),
        pixel_text_attn_cfg=dict(num_heads=4),
        mask_feature_pos=True,
        context_instances=True,
        num_context_classes=4,
    ),
    test_cfg=dict(merge_mode='union'),
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

optim_wrapper = dict(optimizer=dict(lr=2e-3))
train_cfg = dict(max_epochs=epochs, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.05,
        by_epoch=True,
        begin=0,
        end=epochs,
        convert_to_iter_based=True,
    ),
]

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)

# --tta: InstAlign's rule is p_NT > nt_thr, so the views' mean p_NT is
# thresholded (on the synthetic benchmark this beat a vote of the views)
tta_model = dict(nt_thr=0.5)
