# GSVA-Llama2-13B fine-tuned on gRefCOCO (paper Table 1, Table 7): the 7B
# recipe with LLaVA-Llama-2-13B (the release's
# liuhaotian/llava-llama-2-13b-chat-lightning-preview), LoRA rank 64 and
# the Llama-2 chat template (LLaVA's conv_llava_llama_2, the release's
# --conv_type llava_llama_2).
_base_ = ['./gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py']

model = dict(
    mllm=dict(
        # LLaVA-Llama-2-13B (CLIP ViT-L/14 at 224) in the HF LLaVA format;
        # its architecture is KNOWN_LLAVA_ARCHS['llava-v1-llama-2-13b']
        name_or_path='data/pretrained/llava-v1-llama-2-13b',
        lora_cfg=dict(r=64),  # paper Table 7: 64 for the 13B variants
    ),
    conversation=dict(
        style='llama_2',
        # LLaVA's conv_llava_llama_2 system prompt
        system=(
            'You are a helpful language and vision assistant. You are able '
            'to understand the visual content that the user provides, and '
            'assist the user with a variety of tasks using natural '
            'language.'
        ),
    ),
)

# from the GSVA-Llama2-13B pre-training (its last DeepSpeed checkpoint)
load_from = (
    'work_dirs/gsva_llava-llama-2-13b_sam-vit-h_8xb2-50k_pretrain-mixture/'
    'iter_50000.pth'
)
