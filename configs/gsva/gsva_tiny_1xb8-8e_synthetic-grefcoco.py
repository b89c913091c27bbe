# Tiny GSVA on the synthetic gRefCOCO-format benchmark (ours): the paper's
# architecture, dialogue (k = 5 expressions), tokens and losses at toy size
# with random weights, trained in minutes on a 2-core CPU by the plain
# single-process runner.
_base_ = [
    '../_base_/models/gsva_tiny.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/schedules/gsva_tiny_cpu.py',
    '../_base_/default_runtime.py',
]

# the benchmark's words (its word-level tokenizer, from the dataset config)
model = dict(mllm=dict(tokenizer={{_base_.synthetic_word_level}}))

# An image's expressions stay together in a batch, so that they share one
# dialogue. No flip: a flipped copy is another image, which would split the
# dialogues (the paper uses no augmentation either).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=(128, 128), keep_ratio=False),
    dict(type='PackReferringInputs'),
]
train_dataloader = dict(
    batch_size=8,
    sampler=dict(
        _delete_=True,
        type='ImageGroupedSampler',
        batch_size=8,  # = train_dataloader.batch_size
        max_per_image=5,  # = model.conversation.max_expressions
    ),
    dataset=dict(pipeline=train_pipeline),
)

default_hooks = dict(
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
