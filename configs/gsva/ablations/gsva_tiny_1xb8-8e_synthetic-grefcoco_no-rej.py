# Paper Table 4, 2nd row, on the synthetic benchmark: the tiny GSVA without
# the [REJ] token. Every expression is answered "[SEG]", an absent target is
# trained towards an empty mask, and an expression counts as "no target"
# when its mask has fewer than 50 pixels (test_cfg.min_mask_area, the
# paper's rule for LISA). The token stays in the vocabulary but is never
# used.
_base_ = ['../gsva_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(conversation=dict(use_rej=False))
