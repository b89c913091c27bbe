# The tiny GSVA's best setting on the synthetic benchmark (ours; results in
# ../README.md): the 16-epoch [REJ]-weighted config plus
# - SAM's image encoder and the CLIP tower frozen, as in the paper: trained
#   from scratch, SAM's encoder learnt nothing the decoder could use that
#   random weights do not give, and freezing both makes an iteration
#   cheaper;
# - psi also gives SAM a dense prompt (DensePromptMaskHead);
# - psi reads the mean state over each slot's copy of its expression
#   (SpanMeanGSVA);
# - the text-aware horizontal flip. An image's flipped and unflipped
#   samples are different images, so they go into different dialogues.
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
    type='SpanMeanGSVA',  # a RejWeightedGSVA
    rej_token_weight=4.0,
    mllm=dict(
        # the benchmark's word-level tokenizer (from the dataset base)
        tokenizer={{_base_.synthetic_word_level}},
        trainable_modules=(
            'lm_head',
            'embed_tokens',
            'multi_modal_projector',
            'language_model',
        ),
    ),
    mask_head=dict(
        type='DensePromptMaskHead',
        segmentor=dict(freeze_image_encoder=True),
    ),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=(128, 128), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReferringInputs'),
]
# An image's expressions stay together in a batch, so that they share one
# dialogue.
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
