# Flip test-time augmentation (tools/test.py CONFIG CKPT --tta). A dataset
# config inherits this file and sets
#   tta_pipeline = test_pipeline[:-1] + [{{_base_.tta_flip}}]
# i.e. its test pipeline with the final packing replaced by two views: as
# is, and mirrored left-right by mmgres' RandomFlip, which also swaps
# "left" and "right" in the expression. GroundingTTAModel merges the views.
tta_model = dict(
    type='GroundingTTAModel', nt_thr=None, nt_vote=0.5, mask_vote=0.5
)
tta_flip = dict(
    type='TestTimeAug',
    transforms=[
        [
            dict(type='RandomFlip', prob=0.0, direction='horizontal'),
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        ],
        [dict(type='PackReferringInputs')],
    ],
)
