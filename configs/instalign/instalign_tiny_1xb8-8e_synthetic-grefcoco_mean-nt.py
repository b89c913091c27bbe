# Ablation: the no-target predictor pools the queries by a plain mean instead
# of weighting them by relevance.
_base_ = ['./instalign_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(head=dict(nt_pooling='mean'))
