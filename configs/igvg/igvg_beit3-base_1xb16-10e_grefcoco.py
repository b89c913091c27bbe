# IGVG (BEiT-3 base) on gRefCOCO, multi-task: GREC boxes and GRES masks from
# one model. Settings of the authors' InstanceVG config
# (configs/gres/InstanceVG-grefcoco.py): 320x320 input (resized, aspect
# ratio not kept), 50 tokens, N_q = 10, batch 16 per GPU, 10 epochs. One
# test run reports GRES (gIoU, cIoU, N-acc), GREC (F1 at IoU 0.5 and 0.7,
# N-acc) and the CoverAcc of the selected reference points.
_base_ = [
    '../_base_/models/igvg_beit3-base.py',
    '../_base_/datasets/grefcoco_gres.py',
    '../_base_/schedules/schedule_igvg_10e.py',
    '../_base_/default_runtime.py',
]

img_scale = (320, 320)  # BEiT-3 needs exactly img_size x img_size
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),  # masks, merged mask and boxes
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    # after Resize: ground truth (boxes too) in the original frame
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]  # --tta
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Scored as InstanceVG scores (apis/test.py: evaluate_model calls the model
# with rescale=False; evaluations/grefcoco.py: gres_evaluate): masks in the
# 320x320 network frame, the ground truth rasterised at the original size
# and nearest-resized there by its Resize (mmdet BitmapMasks.resize, cv2
# nearest), which resolution='resized' reproduces for a ground truth
# loaded in the original frame. Box IoU (GREC) is the same in either frame.
val_evaluator = [
    dict(type='GRESMetric', resolution='resized'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),  # IGVG's Table 3: 0.7
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator
# InstanceVG thresholds its masks at the 320x320 network size
# (apis/test.py: evaluate_model(..., rescale=False)). Boxes and reference
# points go back to the original frame (ours), where GRECMetric and
# CoverAcc find the ground-truth boxes of this pipeline; GIoU and
# point-in-box are unchanged by scaling both boxes of a pair per axis, so
# the scores equal InstanceVG's 320x320 ones.
model = dict(test_cfg=dict(rescale=False, rescale_boxes=True))

default_hooks = dict(
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    )
)

# --tta: IGVG's "no target" is "no query kept", and the merged instances
# are empty only when every view keeps none
tta_model = dict(nt_vote=1.0)
