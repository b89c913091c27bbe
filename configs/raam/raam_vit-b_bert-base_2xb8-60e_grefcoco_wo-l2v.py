# Table 5(b) ablation, "Linear" row: the L2V gate off, the anchors reach the
# vision modality through the plain linear map of Eq. 3,
# P_cross = Linear(P_L + P); the rest (anchors, head, losses, schedule)
# unchanged. Paper, gRefCOCO val: cIoU 65.74 / gIoU 68.45, against
# 67.35 / 70.02 with the gate.
_base_ = ['./raam_vit-b_bert-base_2xb8-60e_grefcoco.py']

model = dict(backbone=dict(interaction_cfg=dict(use_l2v_gate=False)))
