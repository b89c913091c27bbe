# The 16-epoch [REJ]-weighted tiny GSVA with convolutional stems (ours):
# the patchify projections of the CLIP tower and of SAM's image encoder are
# replaced by stride-2 3x3 convolutions (mmgres ConvStem, Xiao et al.
# 2021), same token grids. Trained from scratch, patchify ViTs did not
# learn the objects' shapes on the synthetic benchmark
# (configs/raam/README.md), and the tiny GSVA's single-target expressions
# (which need the shape) were its weakest.
_base_ = ['./gsva_tiny_1xb8-16e_synthetic-grefcoco_rej-weighted.py']

model = dict(
    mllm=dict(conv_stem=True),
    mask_head=dict(segmentor=dict(conv_stem=True)),
)
