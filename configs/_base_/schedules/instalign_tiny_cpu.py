# Schedule of the tiny InstAlign on the synthetic benchmark (all ours, for a
# shared 2-core CPU): AdamW lr 5e-4 (nothing is pretrained), weight decay
# 0.05 as schedule_20e.py, gradients clipped at norm 1, 200 warm-up
# iterations, then a linear decay to 0.05x over 8 epochs (4152 iterations at
# batch 8), validation every 2 epochs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
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
        end=8,
        convert_to_iter_based=True,
    ),
]
