# Tiny GSVA with the [REJ] answer tokens weighted 4x in the LM loss (ours,
# not the paper's: 12% of the synthetic expressions are no-target, and the
# plain tiny model learns to always answer [SEG]); otherwise the core
# configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py. Results in
# ../README.md.
_base_ = [
    '../../../configs/_base_/models/gsva_tiny.py',
    '../../../configs/_base_/datasets/synthetic_grefcoco.py',
    '../../../configs/_base_/schedules/gsva_tiny_cpu.py',
    '../../../configs/_base_/default_runtime.py',
]

custom_imports = dict(
    imports=['projects.gsva_extensions.gsva_extensions'],
    allow_failed_imports=False,
)

model = dict(
    type='RejWeightedGSVA',
    rej_token_weight=4.0,
    # the benchmark's word-level tokenizer (from the dataset base)
    mllm=dict(tokenizer={{_base_.synthetic_word_level}}),
)

# An image's expressions stay together in a batch, so that they share one
# dialogue; no flip (a flipped copy is another image).
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
