# Ref-ZOM (one-to-zero / one / many referring segmentation, DMMI).
# Files (see docs/en/user_guides/dataset_prepare.md):
#   data/ref-zom/refs(final).p, data/ref-zom/instances.json,
#   data/ref-zom/images/trainval2014/  (COCO train2014 + val2014 merged)
# Splits: train, test. Training draws one sentence per ref (LAVT/DMMI);
# evaluation uses every sentence.
dataset_type = 'RefZOMDataset'
data_root = 'data/ref-zom/'
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
        split_by='final',
        split='train',
        text_mode='random',
        data_prefix=dict(img_path='images/trainval2014/'),
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
        split_by='final',
        split='test',
        text_mode='all',
        data_prefix=dict(img_path='images/trainval2014/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(type='RefZOMMetric')
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
