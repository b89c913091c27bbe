# Copyright (c) mmgres contributors. All rights reserved.
"""A tiny random LLaVA (``LlavaConfig`` kwargs) for tests."""


def tiny_llava_cfg(
    hidden_size: int = 32,
    num_layers: int = 2,
    image_size: int = 32,
    patch_size: int = 8,
) -> dict:
    """``LlavaConfig`` kwargs of a tiny random LLaVA (Llama text model,
    CLIP vision model) for tests and tiny configs. ``vocab_size`` is a
    placeholder: :class:`LlavaMLLM` resizes to its tokenizer."""
    return dict(
        text_config=dict(
            model_type='llama',
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=16,
            max_position_embeddings=512,
        ),
        vision_config=dict(
            model_type='clip_vision_model',
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
            projection_dim=hidden_size,
        ),
        vision_feature_layer=-2,
        vision_feature_select_strategy='default',
    )
