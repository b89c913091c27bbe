# Tiny RaAM-RVG for the synthetic gRefCOCO-format benchmark on a CPU: the
# paper's model (raam_vit-b_bert-base.py: K = 4 stages with RaAM after each,
# N = 16 anchors on a 4x4 region grid, fresh anchors in the first J = 2
# stages, L_GRES = L_r + L_p^seg with beta = 1.2) shrunk. Every size below is
# ours, with random initialisation (nothing is pretrained):
# * ViT: 8-pixel patches on 128x128 images (16x16 tokens, 4x4 per region),
#   64 channels, 8 layers (2 per stage), 2 heads, no drop path;
# * a 2-layer BERT of width 64 over the benchmark's own words;
# * the head 64 wide, L_p^seg weighted 2 against L_r (a sum over the 16
#   regions).
_base_ = ['./raam_vit-b_bert-base.py']

dims = 64

model = dict(
    text_encoder=dict(
        _delete_=True,
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=64,
            hidden_size=dims,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=dims * 2,
            max_position_embeddings=32,
        ),
        pretrained=False,
        # WordPiece over the benchmark's 44 words (the dataset config's
        # `synthetic_wordpiece`)
        tokenizer=dict(type='SyntheticWordPieceTokenizer'),
        max_length=16,
        pooling='cls',
    ),
    backbone=dict(
        vision=dict(
            img_size=(128, 128),
            patch_size=8,
            embed_dims=dims,
            num_layers=8,
            num_heads=2,
            mlp_ratio=2,
            drop_path_rate=0.0,
            init_cfg=None,
        ),
    ),
    head=dict(
        hidden_channels=dims,
        mask_upsample=4,  # 16x16 features -> 64x64 mask logits
        loss_mask=dict(loss_weight=2.0),
    ),
)
