# IGVG (BEiT-3 base) on Ref-ZOM (one-to-zero/one/many referring
# segmentation). InstanceVG's configs/refzom/InstanceVG-refzom.py uses the
# same model and schedule as on gRefCOCO: 320x320, 50 tokens, N_q = 10.
_base_ = [
    '../_base_/models/igvg_beit3-base.py',
    '../_base_/datasets/refzom.py',
    '../_base_/schedules/schedule_igvg_10e.py',
    '../_base_/default_runtime.py',
]

img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]  # --tta
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# oIoU, mIoU and Acc (the paper's Table 2), from RefZOMMetric of the base,
# scored as InstanceVG scores: masks in the 320x320 network frame, the
# ground truth nearest-resized there (its Resize; apis/test.py runs the
# model with rescale=False)
val_evaluator = dict(type='RefZOMMetric', resolution='resized')
test_evaluator = val_evaluator
# InstanceVG thresholds its masks at the 320x320 network size
# (apis/test.py: evaluate_model(..., rescale=False))
model = dict(test_cfg=dict(rescale=False))

# --tta: IGVG's "no target" is "no query kept", and the merged instances
# are empty only when every view keeps none
tta_model = dict(nt_vote=1.0)
