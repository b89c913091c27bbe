# Tiny InstAlign for the synthetic gRefCOCO-format benchmark on a CPU: the
# paper's model (instalign_swin-b_bert-base.py: text-conditioned Mask2Former
# decoder, relevance, POA, IA, no-target predictor, their losses and
# matching) shrunk. Every size below is ours, with random initialisation
# (nothing is pretrained):
# * a Swin of width 32, depths 1-1-2-1, window 4, on 128x128 images;
# * a 2-layer BERT of width 64 over the benchmark's own words;
# * the head 64 wide: 1 deformable pixel-decoder layer, 3 decoder blocks,
#   10 queries, 1,024 sampled points per mask.
_base_ = ['./instalign_swin-b_bert-base.py']

dims = 64

model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=128,
        embed_dims=32,
        depths=[1, 1, 2, 1],
        num_heads=[1, 2, 4, 8],
        window_size=4,
        mlp_ratio=2,
        qkv_bias=True,
        drop_path_rate=0.0,
        patch_norm=True,
        out_indices=(0, 1, 2, 3),
        convert_weights=False,
        init_cfg=None,
    ),
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=64,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=32,
        ),
        pretrained=False,
        # WordPiece over the benchmark's 44 words (the dataset config's
        # `synthetic_wordpiece`)
        tokenizer=dict(type='SyntheticWordPieceTokenizer'),
        max_length=16,
        pooling='cls',
    ),
    head=dict(
        in_channels=[32, 64, 128, 256],
        text_channels=64,
        feat_channels=dims,
        out_channels=dims,
        num_queries=10,
        pixel_decoder=dict(
            norm_cfg=dict(type='GN', num_groups=8),
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=dims, num_heads=4, num_points=2
                    ),
                    ffn_cfg=dict(
                        embed_dims=dims, feedforward_channels=dims * 2
                    ),
                ),
            ),
            positional_encoding=dict(num_feats=dims // 2),
        ),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                cross_attn_cfg=dict(embed_dims=dims, num_heads=4),
                text_attn_cfg=dict(embed_dims=dims, num_heads=4),
                ffn_cfg=dict(embed_dims=dims, feedforward_channels=dims * 4),
            ),
        ),
    ),
    train_cfg=dict(num_points=1024),
    test_cfg=dict(max_per_image=10),
)
