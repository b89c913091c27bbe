# Ablation (paper Table 5(a)): "Direct Interaction", LAVT's pixel-word
# attention and language gate in place of the region-aware anchors; the
# rest of the tiny GRES model and its schedule unchanged.
_base_ = ['./raam_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(backbone=dict(interaction='direct'))
