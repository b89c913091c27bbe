# The 16-epoch [REJ]-weighted tiny GSVA with convolutional stems (ours):
# the patchify projections of the CLIP tower and of SAM's image encoder are
# replaced by stride-2 3x3 convolutions (ConvStem, Xiao et al. 2021), same
# token grids. Trained from scratch, patchify ViTs did not learn the
# objects' shapes on the synthetic benchmark, and the tiny GSVA's
# single-target expressions (which need the shape) were its weakest; the
# stems do not help it (val gIoU 36.08 against 42.99 without, 16 epochs).
# Measured in ../README.md.
_base_ = [
    '../../gsva_extensions/configs/'
    'gsva_tiny_1xb8-16e_synthetic-grefcoco_rej-weighted.py'
]

custom_imports = dict(
    imports=[
        'projects.gsva_extensions.gsva_extensions',
        'projects.conv_stem.conv_stem.llava',
        'projects.conv_stem.conv_stem.sam',
    ],
    allow_failed_imports=False,
)

model = dict(
    mllm=dict(type='ConvStemLlavaMLLM'),
    mask_head=dict(segmentor=dict(type='ConvStemHFSamSegmentor')),
)
