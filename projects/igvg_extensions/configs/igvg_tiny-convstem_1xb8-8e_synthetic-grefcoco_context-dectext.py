# The text-aware-classifier IGVG whose Deformable-DETR decoder layers also
# read the words (IGVGExtendedHead decoder_text_attn_cfg): in every layer the
# queries attend to the words between their self-attention and their
# deformable cross-attention, so the next self-attention compares queries
# that have read the expression ("the leftmost D" is a comparison among the
# queries). In the paper the BEiT-3 encoder fuses the words into the
# visual tokens; the tiny random BEiT-3 does that poorly. Measured in
# the project's README.
_base_ = ['./igvg_tiny-convstem_1xb8-8e_synthetic-grefcoco_context-clstext.py']

model = dict(head=dict(decoder_text_attn_cfg=dict(num_heads=4)))
