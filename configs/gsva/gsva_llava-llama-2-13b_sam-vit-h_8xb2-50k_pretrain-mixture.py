# GSVA-Llama2-13B pre-training (paper appendix B, Table 7): the 7B
# recipe on the same mixture from the 13B LLaVA base, LoRA rank 64. Its
# output is the load_from of
# configs/gsva/gsva_llava-llama-2-13b_sam-vit-h_8xb2-10e_grefcoco.py.
_base_ = ['./gsva_llava-7b_sam-vit-h_8xb2-50k_pretrain-mixture.py']

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
