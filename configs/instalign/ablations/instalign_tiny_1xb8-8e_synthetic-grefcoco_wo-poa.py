# Table 3(a), "w/o L_poa": the tiny config without Phrase-Object Alignment,
# neither as a loss nor as a match cost (Mask2Former's instance supervision
# alone). Paper, gRefCOCO val (full size): cIoU 66.26 against 68.94.
_base_ = [
    '../../_base_/models/instalign_tiny.py',
    '../../_base_/datasets/synthetic_grefcoco.py',
    '../../_base_/schedules/instalign_tiny_cpu.py',
    '../../_base_/default_runtime.py',
]

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

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=2, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)

# --tta: InstAlign's rule is p_NT > nt_thr, so the views' mean p_NT is
# thresholded (on the synthetic benchmark this beat a vote of the views)
tta_model = dict(nt_thr=0.5)
