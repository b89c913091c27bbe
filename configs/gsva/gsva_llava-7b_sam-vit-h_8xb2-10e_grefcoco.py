# GSVA-Vicuna-7B fine-tuned on gRefCOCO (paper Table 1 "(ft)", Table 7):
# LoRA rank 8, AdamW lr 1e-4, 10 epochs, batch 2 per GPU x 8 GPUs, gradient
# accumulation 10, ZeRO-2 in bf16 through mmengine's FlexibleRunner and
# DeepSpeedStrategy. Launch: bash tools/dist_train.sh CONFIG 8.
_base_ = [
    '../_base_/models/gsva_llava-7b_sam-vit-h.py',
    '../_base_/datasets/grefcoco_gres.py',
    '../_base_/schedules/gsva_deepspeed-zero2_10e.py',
    '../_base_/default_runtime.py',
]

# Fine-tuning starts from the GSVA pre-training (paper: 50k steps on LISA's
# mixture plus gRefCOCO): the DeepSpeed checkpoint (a directory) that
#   bash tools/dist_train.sh \
#       configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-50k_pretrain-mixture.py 8
# writes last. Released pre-trained weights instead: convert gsva-7b-pt.bin
# (docs/en/user_guides/model_conversion.md) and pass --cfg-options
# load_from=checkpoints/gsva-7b-pt_mmgres.pth.
load_from = (
    'work_dirs/gsva_llava-7b_sam-vit-h_8xb2-50k_pretrain-mixture/'
    'iter_50000.pth'
)


# SAM's frame: the long side resized to 1024 (SAM's ResizeLongestSide; the
# model pads to 1024 x 1024); CLIP takes its own 224 crop of the same image.
img_scale = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
# ours: --tta
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
# The paper's batch of 2 per GPU counts dialogues (images, each with up to
# k = 5 expressions, appendix E); an mmgres sample is one expression, so a
# batch is 2 x 5 = 10 expressions, kept together per image by
# ImageGroupedSampler (ours).
train_dataloader = dict(
    batch_size=10,
    num_workers=4,  # ours
    sampler=dict(
        _delete_=True,
        type='ImageGroupedSampler',
        batch_size=10,  # = train_dataloader.batch_size
        max_per_image=5,  # = model.conversation.max_expressions
    ),
    dataset=dict(pipeline=train_pipeline),
)
# Evaluation: one expression per sample and per dialogue (batch 1, as the
# release's evaluation), teacher-forced (the paper's protocol).
val_dataloader = dict(batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(  # ours
    checkpoint=dict(save_best='gres/gIoU', rule='greater', max_keep_ckpts=2)
)
