# Table 5(b), "Linear" row: the paper's gRefCOCO config with the L2V gate
# off; the anchors reach the vision modality through the plain linear map
# of Eq. 3, P_cross = Linear(P_L + P). Paper, gRefCOCO val: cIoU 65.74 /
# gIoU 68.45, against 67.35 / 70.02 with the gate. The paper's row has
# alpha_1 and alpha_2; with Eq. 8 as printed (the default) alpha_1 is not
# built: add interaction_cfg.propagate_from='visual' for it (README, note 2).
_base_ = [
    '../../_base_/models/raam_vit-b_bert-base.py',
    '../../_base_/datasets/grefcoco_gres.py',
    '../../_base_/schedules/schedule_poly-60e.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(interaction_cfg=dict(use_l2v_gate=False)),
    test_cfg=dict(rescale=False),
)

train_dataloader = dict(batch_size=8, dataset=dict(text_mode='random'))
default_hooks = dict(
    checkpoint=dict(save_best='gres/gIoU', rule='greater', max_keep_ckpts=3)
)

# Scored as ../raam_vit-b_bert-base_2xb8-60e_grefcoco.py (ReLA's frame)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 480), keep_ratio=False),
    dict(type='LoadReferringAnnotations', mask_frame='resized'),
    dict(type='PackReferringInputs'),
]
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]  # --tta
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='GRESMetric', resolution='resized')
test_evaluator = val_evaluator
