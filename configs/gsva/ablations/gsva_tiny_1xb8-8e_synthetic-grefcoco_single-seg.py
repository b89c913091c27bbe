# Paper Table 4, 3rd row, on the synthetic benchmark: no [REJ] and a single
# [SEG] per dialogue, i.e. one expression per dialogue ("Sure, {obj}:[SEG].",
# LISA with the expression before its [SEG]). No target: a mask of fewer
# than 50 pixels.
_base_ = ['../gsva_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(
    conversation=dict(use_rej=False, max_expressions=1),
    test_cfg=dict(max_expressions=1),
)
