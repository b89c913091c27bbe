# IGVG's Table 6 (effects of the AQG components) on the synthetic
# benchmark: the tiny config with no STS, no DSPS, no ITQ (the table's first row).
# use_sts=False: the first N_q token positions instead of the N_q tokens of
# largest L2 norm; use_dps=False: the plain top-N_q points of the score map
# instead of the Dist-Score Point Selector; use_itq=False: the initial
# queries are MLP(Q_filter), no text injected.
_base_ = [
    '../../_base_/models/igvg_tiny.py',
    '../../_base_/datasets/synthetic_grefcoco.py',
    '../../_base_/schedules/igvg_tiny_cpu.py',
    '../../_base_/default_runtime.py',
]

model = dict(head=dict(aqg=dict(use_sts=False, use_dps=False, use_itq=False)))

# as igvg_tiny_1xb8-5e_synthetic-grefcoco.py
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
tta_model = dict(nt_vote=1.0)
