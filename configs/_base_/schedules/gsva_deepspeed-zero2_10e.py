# GSVA fine-tuning schedule (paper appendix B, Table 7): AdamW, lr 1e-4,
# weight decay 0, gradient clipping 1.0, ZeRO stage 2, bf16, batch 2 per GPU
# x 8 GPUs, gradient accumulation 10 (one update every 10 iterations),
# 10 epochs, 100 warm-up updates then linear decay (the release's
# WarmupDecayLR). Trained by mmengine's FlexibleRunner with DeepSpeed.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='DeepSpeedStrategy',
    # release (main.py): ZeRO-2 with these communication settings
    zero_optimization=dict(
        stage=2,
        contiguous_gradients=True,
        overlap_comm=True,
        reduce_scatter=True,
        reduce_bucket_size=int(1e9),
        allgather_bucket_size=int(1e9),
    ),
    bf16=dict(enabled=True),  # paper / release: bf16
    gradient_clipping=1.0,  # paper
    gradient_accumulation_steps=10,  # paper
    # ours: checkpoints hold the trained parameters only (LoRA, embeddings,
    # lm_head, psi, SAM's decoder); the frozen ones come from the weights
    exclude_frozen_parameters=True,
)
optim_wrapper = dict(
    type='DeepSpeedOptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-4,  # paper: fine-tuning (3e-4 in pre-training)
        betas=(0.9, 0.95),  # release defaults (not in the paper)
        weight_decay=0.0,  # paper
    ),
)

max_epochs = 10  # paper: 10 epochs on gRefCOCO
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1
)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# mmengine schedulers step every iteration, DeepSpeed's optimizer every
# `gradient_accumulation_steps`: 100 warm-up updates = 1000 iterations.
# The release warms up from 0; LinearLR needs a positive start (ours: 1e-3).
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
# The effective batch (8 GPUs x 2 dialogues x 10) is fixed by the strategy;
# --auto-scale-lr would scale from this.
auto_scale_lr = dict(enable=False, base_batch_size=16)
