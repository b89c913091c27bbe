# Classic RefCOCO (REC and RES): one target per expression.
# Files (see docs/en/user_guides/dataset_prepare.md):
#   data/refcoco/refs(unc).p, data/refcoco/instances.json,
#   data/refcoco/images/train2014/
# RefCOCO+: data_root='data/refcoco+/'; RefCOCOg: data_root='data/refcocog/'
# with split_by='umd' (splits train/val/test) or 'google' (train/val).
dataset_type = 'RefCOCODataset'
data_root = 'data/refcoco/'
backend_args = None
img_scale = (480, 480)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='instances.json',
        split_by='unc',
        split='train',
        text_mode='random',
        data_prefix=dict(img_path='images/train2014/'),
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='instances.json',
        split_by='unc',
        split='val',
        text_mode='all',
        data_prefix=dict(img_path='images/train2014/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
# testA / testB: --cfg-options test_dataloader.dataset.split=testA
test_dataloader = val_dataloader

# RES: oIoU / mIoU / Pr@0.5..0.9; REC: Prec@0.5 of the top-1 box
# (mask-only models: dict(type='RECMetric', mask2bbox=True)).
val_evaluator = [dict(type='RESMetric'), dict(type='RECMetric')]
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
