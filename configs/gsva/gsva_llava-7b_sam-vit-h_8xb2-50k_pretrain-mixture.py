# GSVA-Vicuna-7B pre-training (paper section 4.1, appendix A / B, Table 7):
# from LLaVA-Vicuna-7B and SAM ViT-H, 50,000 steps on the mixture of semantic
# segmentation, referring segmentation (with gRefCOCO), VQA and reasoning
# segmentation drawn 9 : 6 : 3 : 1, AdamW lr 3e-4, weight decay 0, gradient
# clipping 1.0, ZeRO-2 in bf16, batch 2 per GPU x 8 GPUs, LoRA rank 8. Its
# output is the load_from of the fine-tuning configs. Launch:
#   bash tools/dist_train.sh CONFIG 8
# Data: configs/_base_/datasets/gsva_pretrain_mixture.py and
# docs/en/user_guides/dataset_prepare.md.
_base_ = [
    '../_base_/models/gsva_llava-7b_sam-vit-h.py',
    '../_base_/datasets/gsva_pretrain_mixture.py',
    '../_base_/schedules/gsva_deepspeed-zero2_10e.py',
    '../_base_/default_runtime.py',
]

load_from = None  # the base LLaVA and SAM come from the model's weights

# 50,000 iterations (LISA's recipe, which the paper keeps: 10 epochs x 500
# updates x 10 accumulated iterations; the schedule base accumulates 10)
max_iters = 50000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=5000,  # ours
)
optim_wrapper = dict(optimizer=dict(lr=3e-4))  # paper: 3e-4 in pre-training
param_scheduler = [
    # 100 warm-up updates (the release's WarmupDecayLR), then linear decay
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000
    ),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=False,
        begin=0,
        end=max_iters,
    ),
]

# A batch of 2 draws per GPU: an image with up to k = 5 expressions each
# (an mmgres sample is one expression), so 10 samples; a VQA draw is one
# conversation (ours: how the paper's "2 samples / GPU" maps onto samples).
train_dataloader = dict(batch_size=10)

default_hooks = dict(  # ours
    checkpoint=dict(
        by_epoch=False,
        interval=5000,
        max_keep_ckpts=2,
        save_last=True,
    ),
)
log_processor = dict(by_epoch=False)
# a fixed seed, so that a resumed run draws the same mixture
randomness = dict(seed=0)
