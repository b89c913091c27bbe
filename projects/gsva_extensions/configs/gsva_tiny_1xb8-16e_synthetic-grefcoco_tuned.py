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
_base_ = ['../../../configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py']

custom_imports = dict(
    imports=['projects.gsva_extensions.gsva_extensions'],
    allow_failed_imports=False,
)

model = dict(
    type='SpanMeanGSVA',  # a RejWeightedGSVA
    rej_token_weight=4.0,
    mllm=dict(
        trainable_modules=(
            'lm_head',
            'embed_tokens',
            'multi_modal_projector',
            'language_model',
        )
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

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
