# RoBERTa-base, spelled out so that the model builds offline with random
# weights; `pretrained` loads the real weights with from_pretrained.
text_encoder = dict(
    type='HFTextEncoder',
    name_or_path='roberta-base',
    model_cfg=dict(
        model_type='roberta',
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act='gelu',
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    ),
    pretrained=True,
    max_length=20,
    pooling='pooler',
)
