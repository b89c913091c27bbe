# Eq. 8 read as P_i = Norm(P_cross + w_p4(P_V)) instead of the printed
# Norm(P_cross + w_p4(P_cross)). The paper's text says that "the
# region-aware anchor, interacting with visual features, combines with the
# P_cross and is propagated to the next stage", and its Table 5(b) ablates
# alpha_1 of Eq. 5; both only make sense if Eq. 5's visually activated
# anchors P_V feed Eq. 8, so the printed w_p4(P_cross) is probably a typo.
# No code is public to settle it. This reading computes Eq. 5 in every stage
# (w_v2 and alpha_1, learnt from 1: ours) and hands image-dependent anchors
# to the next stage and to the head; the rest (anchors, head, losses,
# schedule) is unchanged. Checkpoints trained at commit ca9486f, whose
# default this was, load here.
_base_ = ['./raam_vit-b_bert-base_2xb8-60e_grefcoco.py']

model = dict(backbone=dict(interaction_cfg=dict(propagate_from='visual')))
