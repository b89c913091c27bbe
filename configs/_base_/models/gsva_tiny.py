# Tiny GSVA for the synthetic benchmark on a CPU (1.15 M parameters). The
# architecture, dialogue, tokens and losses are the paper's, as in
# gsva_llava-7b_sam-vit-h.py; every size below is ours: a random Llama-style
# LLaVA (text width 128, 4 layers) with a tiny CLIP tower (width 64, 2
# layers, 64 visual tokens) and a tiny SAM (128 px, 16 x 16 embedding,
# decoder width 64). The leaf config names the tokenizer (the dataset's
# word-level one).
llm_dims = 128
sam_image_size = 128  # the benchmark's image size: no resize inside SAM

model = dict(
    type='GSVA',
    # SAM and CLIP normalise their own copies of the RGB 0-255 input
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=None,
        std=None,
        bgr_to_rgb=True,
        pad_size_divisor=1,
    ),
    mllm=dict(
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
        lora_cfg=dict(
            r=8,
            lora_alpha=16,
            lora_dropout=0.0,  # ours (0.05 in the full config)
            target_modules=['q_proj', 'v_proj'],
        ),
        # ours: random weights are no pretrained stand-in, so the CLIP
        # tower, the projector and the whole LLM learn too, the LoRA
        # adapters on top (the full config trains only LoRA, lm_head and
        # embed_tokens)
        trainable_modules=(
            'lm_head',
            'embed_tokens',
            'vision_tower',
            'multi_modal_projector',
            'language_model',
        ),
        clip_resize='squash',  # ours: the 128 px image squashed to 64
    ),
    mask_head=dict(
        type='GSVAMaskHead',
        segmentor=dict(
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
            # ours: random weights, so the image encoder learns too (frozen
            # in the full config)
            freeze_image_encoder=False,
        ),
        # paper Eq. 7 (LISA's weights): 2.0 BCE + 0.5 Dice
        loss_mask=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0
        ),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1e-3,
            loss_weight=0.5,
        ),
    ),
    conversation=dict(
        type='GSVAConversationBuilder',
        max_expressions=5,  # paper appendix E: k = 5
        use_rej=True,
        system='A chat.',  # ours: a short system prompt, short sequences
    ),
    loss_lm=dict(
        type='CrossEntropyLoss',
        ignore_index=-100,
        avg_non_ignore=True,
        loss_weight=1.0,
    ),
    test_cfg=dict(
        mode='teacher_forced',  # the paper's benchmark protocol
        max_expressions=5,
        mask_thr=0.0,
        min_mask_area=50,  # the paper's empty-mask rule (no-[REJ] variant)
    ),
)
