# Ablation (paper Table 3 style): without Phrase-Object Alignment, neither as
# a loss nor as a match cost.
_base_ = ['./instalign_tiny_1xb8-8e_synthetic-grefcoco.py']

model = dict(
    head=dict(loss_poa=None),
    train_cfg=dict(
        assigner=dict(
            match_costs=[
                dict(type='RelevanceCost', weight=2.0),
                dict(
                    type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True
                ),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
            ]
        )
    ),
)
