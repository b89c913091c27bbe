# GSVA-Vicuna-7B (Xia et al., CVPR 2024): LLaVA (CLIP ViT-L/14 at 224 +
# Vicuna-7B) reads the image and a dialogue about several expressions and
# answers "Sure, e1:[SEG], e2:[REJ]."; each [SEG] state goes through the
# projector psi to a SAM ViT-H (1024 px) prompt, which gives its mask.
#
# Trainable (paper Sec. 3 / appendix B): LoRA on q_proj and v_proj (rank 8
# for 7B), lm_head, embed_tokens, SAM's mask decoder and psi. Frozen: the
# CLIP tower, LLaVA's projector, the LLM weights and SAM's image encoder.
# k = 5 expressions per dialogue (paper appendix E).
# Loss (paper Eq. 7, LISA's weights): 1.0 LM CE + 2.0 BCE + 0.5 Dice.
#
# Weights (no download here; both are read with from_pretrained):
# - `llava_path`: GSVA's starting MLLM, LLaVA-Lightning-7B-v1-1
#   (LLaVA v1, Vicuna-7B, CLIP ViT-L/14 at 224 px), saved as an HF
#   `LlavaForConditionalGeneration` directory with its tokenizer (ours: the
#   HF format; the release loads LLaVA's own code). Its architecture is
#   KNOWN_LLAVA_ARCHS['llava-v1-vicuna-7b'].
# - `sam_path`: SAM ViT-H (HF `SamModel`, 'facebook/sam-vit-huge').
llava_path = 'data/pretrained/llava-v1-vicuna-7b'
sam_path = 'facebook/sam-vit-huge'

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
        name_or_path=llava_path,
        pretrained=True,
        # the release trains the frozen weights in bf16 (--precision bf16)
        torch_dtype='bfloat16',
        lora_cfg=dict(
            r=8,  # paper Table 7: 8 for 7B, 64 for 13B
            lora_alpha=16,  # GSVA release default
            lora_dropout=0.05,  # GSVA release default
            target_modules=['q_proj', 'v_proj'],  # paper
        ),
        trainable_modules=('lm_head', 'embed_tokens'),  # paper
        clip_resize='center_crop',  # CLIPImageProcessor, as the release
        # paper Sec. 3.1 / Eq. 1: a linear projector, LLaVA v1's one Linear
        projector='linear',
        # ours: activation checkpointing to fit batch 2 x 5 expressions
        gradient_checkpointing=True,
    ),
    mask_head=dict(
        type='GSVAMaskHead',
        segmentor=dict(
            type='HFSamSegmentor',
            name_or_path=sam_path,
            pretrained=True,
            torch_dtype='bfloat16',
            freeze_image_encoder=True,  # paper (the mask decoder trains)
        ),
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
        # paper appendix E (Fig. 8): 5 [SEG] tokens, i.e. expressions, per
        # dialogue (the release's num_classes_per_sample is 3)
        max_expressions=5,
        use_rej=True,
    ),
    loss_lm=dict(
        type='CrossEntropyLoss',
        ignore_index=-100,
        avg_non_ignore=True,
        loss_weight=1.0,
    ),
    test_cfg=dict(
        mode='teacher_forced',  # the paper's benchmark protocol
        # ours: the test dialogues hold the same number as in training
        max_expressions=5,
        mask_thr=0.0,
        min_mask_area=50,  # the paper's empty-mask rule (no-[REJ] variant)
    ),
)
