# IGVG's schedule, from the authors' InstanceVG configs: Adam (AMSGrad,
# betas (0.9, 0.98), eps 1e-9, no weight decay), lr 5e-4 with 0.1x on the
# BEiT-3 encoder, 1 warm-up epoch, x0.1 after epoch 7, 10 epochs, gradient
# norm clipped at 0.15, 16 samples per GPU.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='Adam',
        lr=5e-4,
        betas=(0.9, 0.98),
        eps=1e-9,
        weight_decay=0.0,
        amsgrad=True,
    ),
    # InstanceVG: lr_vis_enc = lr / 10 for BEiT-3; its projections belong
    # to the head there and train at the full rate, as here
    paramwise_cfg=dict(custom_keys={'backbone.beit3': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=0.15, norm_type=2),
)

param_scheduler = [
    # ours: the shape of InstanceVG's one-epoch warm-up (linear from 1e-3)
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True,
    ),
    dict(type='MultiStepLR', by_epoch=True, milestones=[7], gamma=0.1),
]

# InstanceVG's per-GPU batch; its number of GPUs is not published.
auto_scale_lr = dict(enable=False, base_batch_size=16)
