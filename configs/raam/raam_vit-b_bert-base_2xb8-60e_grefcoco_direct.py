# Table 5(a) baseline, "Direct Interaction": LAVT's pixel-word attention and
# language gate in place of the region-aware anchors after every stage; the
# rest (region-aware head, losses, schedule) unchanged. The head's region
# "anchors" are then the fused features averaged over each region.
_base_ = ['./raam_vit-b_bert-base_2xb8-60e_grefcoco.py']

model = dict(backbone=dict(interaction='direct'))
