# Copyright (c) mmgres contributors. All rights reserved.
"""LLaVA architectures as ``LlavaConfig`` kwargs: the paper's three
MLLMs."""

import copy
from typing import Dict

# CLIP ViT-L/14 at 224 px, the vision tower of LLaVA v1 (paper Sec. 3.1:
# 224 / 14 = 16, so 256 visual tokens).
CLIP_VIT_L14_224 = dict(
    model_type='clip_vision_model',
    hidden_size=1024,
    intermediate_size=4096,
    num_hidden_layers=24,
    num_attention_heads=16,
    image_size=224,
    patch_size=14,
    projection_dim=768,
    hidden_act='quick_gelu',
)


def _llama(hidden, inter, layers, heads, max_pos):
    return dict(
        model_type='llama',
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        vocab_size=32000,
        max_position_embeddings=max_pos,
        rms_norm_eps=1e-6 if max_pos == 2048 else 1e-5,
    )


def _llava(text_config: dict) -> dict:
    # LLaVA v1 reads the penultimate CLIP layer without its CLS token. Its
    # projector is one Linear; the HF config says so as llava2hf.py writes
    # it (projector_hidden_act='linear'), and LlavaMLLM(projector='linear')
    # builds that Linear in place of HF's two layers.
    return dict(
        text_config=text_config,
        vision_config=copy.deepcopy(CLIP_VIT_L14_224),
        image_token_index=32000,
        image_seq_length=256,
        vision_feature_layer=-2,
        vision_feature_select_strategy='default',
        projector_hidden_act='linear',
    )


# Architectures of the paper's three MLLMs (Table 1), as ``LlavaConfig``
# kwargs, so that they build without a download. Text dims are those of the
# public Vicuna-7B/13B (Llama-1) and Llama-2-13B ``config.json`` files.
KNOWN_LLAVA_ARCHS: Dict[str, dict] = {
    'llava-v1-vicuna-7b': _llava(_llama(4096, 11008, 32, 32, 2048)),
    'llava-v1-vicuna-13b': _llava(_llama(5120, 13824, 40, 40, 2048)),
    'llava-v1-llama-2-13b': _llava(_llama(5120, 13824, 40, 40, 4096)),
}
