# gRefCOCO for GRES (generalized referring expression segmentation).
# Files (see docs/en/user_guides/dataset_prepare.md):
#   data/grefcoco/grefs(unc).json, data/grefcoco/instances.json,
#   data/grefcoco/images/train2014/COCO_train2014_*.jpg
# One sample per sentence for training and evaluation, as ReLA does.
# Test pipelines load annotations after Resize: the ground truth stays in
# the original image frame, where the metrics compare it. To score in the
# network frame as ReLA does, load it with
# LoadReferringAnnotations(mask_frame='resized') (polygons re-rasterised at
# img_shape) and set GRESMetric(resolution='resized').
dataset_type = 'GRefCOCODataset'
data_root = 'data/grefcoco/'
backend_args = None
img_scale = (480, 480)  # ReLA resizes to 480x480

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
        refs_file='grefs(unc).json',
        split='train',
        text_mode='all',
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
        refs_file='grefs(unc).json',
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

val_evaluator = dict(type='GRESMetric')
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
