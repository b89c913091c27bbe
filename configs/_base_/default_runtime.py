default_scope = 'mmgres'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='GroundingVisualizationHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='GroundingLocalVisualizer',
    vis_backends=vis_backends,
    name='visualizer',
)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False

# tools/test.py --tta: the model wrapped in GroundingTTAModel, which merges
# the views of the dataset config's tta_pipeline (FlipTestTimeAug: as is
# and mirrored, "left"/"right" swapped in the expression). Ours: none of
# the four papers tests with augmentation.
tta_model = dict(
    type='GroundingTTAModel', nt_thr=None, nt_vote=0.5, mask_vote=0.5
)
