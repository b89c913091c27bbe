# The [REJ]-weighted tiny GSVA (ours, see its 8-epoch config) trained for 16
# epochs, validated every 4. Results in ../README.md.
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

max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
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

default_hooks = dict(
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
