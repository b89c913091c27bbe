# Ablation: instance aggregation replaced by the mask of the single most
# relevant instance.
_base_ = ['./instalign_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(head=dict(aggregation='best'))
