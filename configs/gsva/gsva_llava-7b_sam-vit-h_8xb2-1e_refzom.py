# GSVA-Vicuna-7B fine-tuned on Ref-ZOM (paper appendix C, Table 8): 1 epoch
# on the train split from the pre-trained GSVA, then scored with oIoU / mIoU
# on the target samples and Acc on the empty ones (RefZOMMetric). The other
# settings are the gRefCOCO fine-tuning's (Table 7).
_base_ = [
    '../_base_/models/gsva_llava-7b_sam-vit-h.py',
    '../_base_/datasets/refzom.py',
    '../_base_/schedules/gsva_deepspeed-zero2_10e.py',
    '../_base_/default_runtime.py',
]

# the GSVA pre-training's last checkpoint (see the gRefCOCO config)
load_from = (
    'work_dirs/gsva_llava-7b_sam-vit-h_8xb2-50k_pretrain-mixture/'
    'iter_50000.pth'
)

max_epochs = 1  # paper: "finetuned versions with 1 epoch"
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]

img_scale = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
# ours: --tta
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
train_dataloader = dict(
    batch_size=10,  # ours: 2 dialogues x 5 expressions (see the gRefCOCO one)
    num_workers=4,  # ours
    sampler=dict(
        _delete_=True,
        type='ImageGroupedSampler',
        batch_size=10,
        max_per_image=5,
    ),
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(  # ours
    checkpoint=dict(save_best='refzom/oIoU', rule='greater', max_keep_ckpts=2)
)
