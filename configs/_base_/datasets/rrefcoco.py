# R-RefCOCO (RefSegformer): RefCOCO refs whose sentences carry `exist`
# (False = a negative sentence, a no-target sample).
# Files (see docs/en/user_guides/dataset_prepare.md):
#   data/rrefcoco/refs(unc).p, data/rrefcoco/instances.json,
#   data/rrefcoco/images/train2014/
# R-RefCOCO+: point data_root at data/rrefcoco+/; R-RefCOCOg: data/rrefcocog/
# with split_by='umd'.
dataset_type = 'RRefCOCODataset'
data_root = 'data/rrefcoco/'
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

# mIoU, mRR, rIoU, grouped by ref_id using each sentence's `exist`
val_evaluator = dict(type='RRefCOCOMetric')
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
