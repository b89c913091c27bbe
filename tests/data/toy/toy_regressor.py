# Toy config for the tool tests; see mmgres_toy.py.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['mmgres_toy'], allow_failed_imports=False)

model = dict(type='ToyRegressor', in_dims=4)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', size=32),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', size=16),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='ToyMSE')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=8, val_interval=8)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
)
param_scheduler = [
    dict(type='MultiStepLR', milestones=[6], gamma=0.1, by_epoch=False)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(
        type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=10
    ),
)
custom_hooks = [dict(type='ToyRecordHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=True)
