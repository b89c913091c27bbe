# RefCLEF (ReferItGame): one target per expression, SAIAPR TC-12 images.
# Files (see docs/en/dataset_prepare.md):
#   data/refclef/refs(unc).p, data/refclef/refs(berkeley).p,
#   data/refclef/instances.json, data/refclef/images/saiapr_tc-12/
# split_by='unc' (GSVA's and LISA's choice): train, val, testA, testB,
# testC; split_by='berkeley': train, val, test.
_base_ = ['../tta_flip.py']
dataset_type = 'RefCLEFDataset'
data_root = 'data/refclef/'
backend_args = None
img_scale = (480, 480)  # ours: as refcoco.py

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
        data_prefix=dict(img_path='images/saiapr_tc-12/'),
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
        data_prefix=dict(img_path='images/saiapr_tc-12/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
# testA / testB / testC (unc) or test (berkeley):
# --cfg-options test_dataloader.dataset.split=testA
test_dataloader = val_dataloader

# RES: oIoU / mIoU / Pr@0.5..0.9; REC: Prec@0.5 of the top-1 box
# (mask-only models: dict(type='RECMetric', mask2bbox=True)).
val_evaluator = [dict(type='RESMetric'), dict(type='RECMetric')]
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (configs/_base_/tta_flip.py)
tta_pipeline = test_pipeline[:-1] + [{{_base_.tta_flip}}]
