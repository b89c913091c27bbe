# Tiny RaAM-RVG on the synthetic gRefCOCO-format benchmark (GRES): the
# paper's model and losses shrunk to train on a 2-core CPU in minutes
# (sizes and schedule ours: see the model and schedule bases).
_base_ = [
    '../_base_/models/raam_tiny.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/schedules/raam_tiny_cpu.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
