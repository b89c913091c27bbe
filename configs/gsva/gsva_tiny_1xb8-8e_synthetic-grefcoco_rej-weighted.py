# Tiny GSVA with the [REJ] answer tokens weighted 4x in the LM loss (ours,
# not the paper's: 12% of the synthetic expressions are no-target, and the
# plain tiny model learns to always answer [SEG]).
_base_ = ['./gsva_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(rej_token_weight=4.0)
