# Tiny GSVA with the [REJ] answer tokens weighted 4x in the LM loss (ours,
# not the paper's: 12% of the synthetic expressions are no-target, and the
# plain tiny model learns to always answer [SEG]). Results in ../README.md.
_base_ = ['../../../configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py']

custom_imports = dict(
    imports=['projects.gsva_extensions.gsva_extensions'],
    allow_failed_imports=False,
)

model = dict(type='RejWeightedGSVA', rej_token_weight=4.0)
