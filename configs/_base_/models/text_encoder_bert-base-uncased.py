# BERT-base-uncased, spelled out so that the model builds offline with random
# weights; `pretrained` loads the real weights (hub name or local directory)
# with transformers' from_pretrained in init_weights().
text_encoder = dict(
    type='HFTextEncoder',
    name_or_path='bert-base-uncased',
    model_cfg=dict(
        model_type='bert',
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act='gelu',
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    ),
    pretrained=True,
    max_length=20,
    pooling='pooler',
)
