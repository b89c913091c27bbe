# Table 5(a), "Direct Interaction": the paper's gRefCOCO config with LAVT's
# pixel-word attention and language gate in place of the region-aware
# anchors after every stage; the head, losses and schedule unchanged (the
# head's region "anchors" are then the fused features averaged over each
# region). Paper, gRefCOCO val: cIoU 64.77 / gIoU 67.62.
_base_ = [
    '../../_base_/models/raam_vit-b_bert-base.py',
    '../../_base_/datasets/grefcoco_gres.py',
    '../../_base_/schedules/schedule_poly-60e.py',
    '../../_base_/default_runtime.py',
]

model = dict(backbone=dict(interaction='direct'), test_cfg=dict(rescale=False))

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
