# Ablation (paper Table 5(b), "Linear" row): the L2V gate off, the anchors
# reach the vision modality through the plain linear map of Eq. 3,
# P_cross = Linear(P_L + P); the rest of the tiny GRES model unchanged.
_base_ = ['./raam_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(backbone=dict(interaction_cfg=dict(use_l2v_gate=False)))
