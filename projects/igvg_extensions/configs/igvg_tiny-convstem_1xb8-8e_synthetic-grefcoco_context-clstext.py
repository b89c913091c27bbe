# The tiny IGVG with context instances, whose classification branch also
# attends to the words (IGVGExtendedHead cls_text_attn_cfg): the
# Deformable-DETR decoder never sees the expression, and with the tiny
# random BEiT-3 the context model kept few queries above the 0.7 score
# threshold (245 of 541 val samples had none, only 55 of them no-target),
# while the boxes it did keep matched (65 % of the referred objects had a
# kept box at IoU > 0.5): telling *which* object is referred was the weak
# part. Measured in the project's README.
_base_ = ['./igvg_tiny-convstem_1xb8-8e_synthetic-grefcoco_context.py']

model = dict(head=dict(cls_text_attn_cfg=dict(num_heads=4)))
