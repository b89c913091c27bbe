# GSVA-Vicuna-7B fine-tuned for classic RES / REC (paper Tables 2-3 "(ft)",
# Table 7): the joint training set of RefCLEF, RefCOCO, RefCOCO+ (unc) and
# RefCOCOg (umd), the release's refer_seg mixture
# "refclef||refcoco||refcoco+||refcocog", for 50,000 steps with gradient
# accumulation 10, lr 1e-4; scored on RefCOCO val with cIoU (RESMetric's
# oIoU) and Prec@0.5 of the mask's box ("mask2bbox", RECMetric).
_base_ = [
    '../_base_/models/gsva_llava-7b_sam-vit-h.py',
    '../_base_/datasets/refcoco.py',
    '../_base_/schedules/gsva_deepspeed-zero2_10e.py',
    '../_base_/default_runtime.py',
]

# the GSVA pre-training's last checkpoint (see the gRefCOCO config)
load_from = (
    'work_dirs/gsva_llava-7b_sam-vit-h_8xb2-50k_pretrain-mixture/'
    'iter_50000.pth'
)

# 50,000 iterations = 5,000 updates of 10 accumulated iterations (the
# release counts 10 epochs x 500 updates x 10 accumulation steps).
max_iters = 50000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=5000,  # ours
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=False,
        begin=0,
        end=max_iters,
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

refcoco_train = dict(
    type='RefCOCODataset',
    data_root='data/refcoco/',
    ann_file='instances.json',
    split_by='unc',
    split='train',
    text_mode='random',
    data_prefix=dict(img_path='images/train2014/'),
    pipeline=train_pipeline,
)

train_dataloader = dict(
    batch_size=10,  # ours: 2 dialogues x 5 expressions (see the gRefCOCO one)
    num_workers=4,  # ours
    sampler=dict(
        _delete_=True,
        type='ImageGroupedSampler',
        batch_size=10,
        max_per_image=5,
    ),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(
                refcoco_train,
                type='RefCLEFDataset',
                data_root='data/refclef/',
                data_prefix=dict(img_path='images/saiapr_tc-12/'),
            ),
            refcoco_train,
            dict(refcoco_train, data_root='data/refcoco+/'),
            dict(refcoco_train, data_root='data/refcocog/', split_by='umd'),
        ],
    ),
)
# RefCOCO+ / RefCOCOg: --cfg-options test_dataloader.dataset.data_root=...
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='RESMetric'),
    dict(type='RECMetric', mask2bbox=True),
]
test_evaluator = val_evaluator

default_hooks = dict(  # ours
    checkpoint=dict(
        by_epoch=False,
        interval=5000,
        save_best='res/oIoU',
        rule='greater',
        max_keep_ckpts=2,
    ),
)
log_processor = dict(by_epoch=False)
