# Tiny GSVA on the synthetic gRefCOCO-format benchmark: trains on a 2-core
# CPU in minutes. The architecture (LLaVA v1's one-Linear projector, psi,
# SAM), dialogue (k = 5 expressions), tokens and losses are the paper's
# (configs/_base_/models/gsva_llava-7b_sam-vit-h.py); everything below is
# ours, shrunk for the CPU: a random Llama-style LLaVA with a tiny CLIP
# tower, a word-level tokenizer over the benchmark's words, a tiny SAM, a
# plain single-process runner.
_base_ = [
    '../_base_/models/gsva_llava-7b_sam-vit-h.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/default_runtime.py',
]

llm_dims = 128
sam_image_size = 128  # the benchmark's image size: no resize inside SAM

model = dict(
    mllm=dict(
        _delete_=True,
        type='LlavaMLLM',
        name_or_path=None,
        pretrained=False,
        model_cfg=dict(
            text_config=dict(
                model_type='llama',
                hidden_size=llm_dims,
                intermediate_size=llm_dims * 2,
                num_hidden_layers=4,
                num_attention_heads=4,
                num_key_value_heads=4,
                vocab_size=16,  # resized to the tokenizer
                max_position_embeddings=512,
            ),
            vision_config=dict(
                model_type='clip_vision_model',
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=64,
                patch_size=8,  # 64 visual tokens
                projection_dim=64,
            ),
            vision_feature_layer=-1,
            vision_feature_select_strategy='default',
        ),
        # the benchmark's words; LlavaMLLM puts the dialogue's first
        tokenizer={{_base_.synthetic_word_level}},
        lora_cfg=dict(
            r=8,
            lora_alpha=16,
            lora_dropout=0.0,
            target_modules=['q_proj', 'v_proj'],
        ),
        # random weights are no pretrained stand-in: the CLIP tower, the
        # projector and the whole LLM learn too, the LoRA adapters on top
        # (the full config trains only LoRA, lm_head and embed_tokens)
        trainable_modules=(
            'lm_head',
            'embed_tokens',
            'vision_tower',
            'multi_modal_projector',
            'language_model',
        ),
        clip_resize='squash',
    ),
    mask_head=dict(
        segmentor=dict(
            _delete_=True,
            type='HFSamSegmentor',
            pretrained=False,
            model_cfg=dict(
                vision_config=dict(
                    hidden_size=64,
                    num_hidden_layers=3,
                    num_attention_heads=4,
                    global_attn_indexes=[2],
                    mlp_dim=128,
                    output_channels=64,
                    image_size=sam_image_size,
                    patch_size=8,
                    window_size=4,
                    num_pos_feats=32,
                    # HF's SamVisionConfig default (1e-10) leaves a random
                    # image encoder at ~0 output
                    initializer_range=0.02,
                ),
                prompt_encoder_config=dict(
                    hidden_size=64, image_size=sam_image_size, patch_size=8
                ),
                mask_decoder_config=dict(
                    hidden_size=64,
                    mlp_dim=128,
                    num_attention_heads=4,
                    iou_head_hidden_dim=64,
                ),
            ),
            # random weights: the image encoder learns too (frozen in the
            # full config)
            freeze_image_encoder=False,
        ),
    ),
    conversation=dict(
        # a short system prompt keeps the sequences short on the CPU
        system='A chat.',
    ),
)

# Keep an image's expressions together in a batch, so that they share one
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

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=8, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=0,
        end=8,
        convert_to_iter_based=True,
    ),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
log_processor = dict(by_epoch=True)
