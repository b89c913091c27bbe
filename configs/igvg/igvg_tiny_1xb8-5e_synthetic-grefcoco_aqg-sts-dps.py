# IGVG Table 6 ablation on the synthetic benchmark: STS and DSPS, no ITQ.
# use_sts=False ranks the text tokens by position instead of by score;
# use_dps=False takes the plain top-k score points; use_itq=False leaves the
# queries un-updated by the score-map cross-attention.
_base_ = ['./igvg_tiny_1xb8-5e_synthetic-grefcoco.py']

model = dict(head=dict(aqg=dict(use_sts=True, use_dps=True, use_itq=False)))
