# Tiny IGVG on the synthetic gRefCOCO-format benchmark: the paper's model
# shrunk for a 2-core CPU (sizes and schedule ours: see the two bases).
# One test run reports GRES, GREC and the CoverAcc of the reference points.
_base_ = [
    '../_base_/models/igvg_tiny.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/schedules/igvg_tiny_cpu.py',
    '../_base_/default_runtime.py',
]

val_evaluator = [
    dict(type='GRESMetric'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    ),
)
log_processor = dict(by_epoch=True)

# --tta: IGVG's "no target" is "no query kept", so the merged views say
# "no target" only when every view keeps no query
tta_model = dict(nt_vote=1.0)
