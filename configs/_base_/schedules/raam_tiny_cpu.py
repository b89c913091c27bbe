# Schedule of the tiny RaAM-RVG on the synthetic benchmark (all ours, for a
# shared 2-core CPU): AdamW lr 1e-3 (nothing is pretrained), weight decay
# 0.05 as the paper, gradients clipped at norm 1, 200 warm-up iterations,
# then poly 0.9 decay to 0 over 8 epochs, validation after every epoch.
max_epochs = 8

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    ),
]
