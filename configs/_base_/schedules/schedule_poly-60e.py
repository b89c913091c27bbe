# RaAM-RVG's schedule (paper Sec. 4.2): AdamW, weight decay 0.05, initial
# lr 2e-5, polynomial decay with power 0.9, 60 epochs, batch 16 (2 GPUs).
# Values marked "ours" are not given by the paper.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-5, weight_decay=0.05),
)

param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,  # ours: decays to 0 at the end
        begin=0,
        end=60,
        by_epoch=True,
        convert_to_iter_based=True,  # ours: decayed every iteration
    )
]

# Base batch size (num_gpus x samples_per_gpu) for --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=16)
