# gRefCOCO for GREC (generalized referring expression comprehension).
# Same files as grefcoco_gres.py; the metric is the official F1score
# (score >= 0.7, greedy GIoU matching), reported at IoU 0.5 and 0.7.
_base_ = './grefcoco_gres.py'

img_scale = (640, 640)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]  # --tta
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='GRECMetric', iou_thrs=(0.5, 0.7))
test_evaluator = val_evaluator
