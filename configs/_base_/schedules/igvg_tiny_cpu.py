# Schedule of the tiny IGVG on the synthetic benchmark (all ours, for a
# shared 2-core CPU): AdamW lr 1e-3, 200 warm-up iterations, then a linear
# decay to 0.05x over 5 epochs (2595 iterations at batch 8), validation
# after every epoch.
max_epochs = 5

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
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
