# Tiny RaAM-RVG with a convolutional stem (ours): the ViT's 8x8 patchify
# projection is replaced by three stride-2 3x3 convolutions
# (mmgres ConvStem; Xiao et al. 2021), same 16x16 tokens. Trained on the
# objects' shapes alone, the tiny ViT stays at chance (25.0 % on val after
# 300 iterations) with the patchify stem and reaches 94.8 % with this one;
# measured in configs/raam/README.md.
_base_ = ['./raam_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(backbone=dict(conv_stem=True))
