# IGVG (BEiT-3 base) on gRefCOCO, built as the authors' released code
# InstanceVG (configs/gres/InstanceVG-grefcoco.py) builds it, so that the
# released checkpoint InstanceVG-grefcoco.pth, converted with
# tools/model_converters/instancevg2mmgres.py, loads with every weight
# matched. Data, schedule and evaluation are those of the paper config
# igvg_beit3-base_1xb16-10e_grefcoco.py (repeated here).
#
# Where the release differs from the paper (each a switch of ours; the
# paper's choice stays the default of the modules):
# 1. Query generation: the selected tokens are the *positional* queries of
#    zero content queries in one post-norm DETR decoder layer
#    (self-attention, cross-attention to the image, FFN, final LayerNorm),
#    TextToImageDecoderLayer; the paper: one cross-attention block.
# 2. Score map: the max over the selected tokens of the cross-attention
#    *probabilities* (softmax over pixels), then a sigmoid in the point
#    selector and the minimap loss; the paper: the mean of the attention
#    logits.
# 3. Text selection: tokens ranked by their channel mean, not their L2
#    norm; a sentence shorter than N_q takes its tokens in sentence order,
#    then zero vectors (fill_mode='zero').
# 4. ITQ concatenates [F_q; Q_filter] (text first); ours [Q_filter; F_q]:
#    the converter permutes the first MLP layer's input columns.
# 5. Decoder references: sigmoid(Linear(query_pos)) + P_r (a learned
#    offset) rather than P_r; the box branch's inverse sigmoid uses
#    eps 1e-3 (detrex) rather than mmdet's 1e-5.
# 6. Prediction score: p_target x sigmoid(l_0), l_0 the "has a target"
#    no-target logit, rather than p_target x (1 - softmax(l)[1]); masks
#    upsampled with align_corners=True.
# 7. UNet decoder upsampling with align_corners=True; SimpleFPN's channel
#    LayerNorm with eps 1e-6 (InstanceVG's LN2d).
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

# scored as InstanceVG scores (see the paper config)
val_evaluator = [
    dict(type='GRESMetric', resolution='resized'),
    dict(type='GRECMetric', iou_thrs=(0.5, 0.7)),
    dict(type='CoverAcc', points_key='pred_points'),
]
test_evaluator = val_evaluator

default_hooks = dict(
    checkpoint=dict(
        interval=1, max_keep_ckpts=2, save_best='gres/gIoU', rule='greater'
    )
)

tta_model = dict(nt_vote=1.0)  # as the paper config

model = dict(
    neck=dict(norm_cfg=dict(type='LN2d', eps=1e-6)),  # 7
    head=dict(
        mask_decoder=dict(align_corners=True),  # 7
        aqg=dict(
            text_selector=dict(rank_by='mean', fill_mode='zero'),  # 3
            cross_attention=dict(  # 1
                _delete_=True,
                type='TextToImageDecoderLayer',
                num_heads=8,
                attn_drop=0.1,
                ffn_cfg=dict(feedforward_channels=512, ffn_drop=0.1),
            ),
            score_reduce='max',  # 2
        ),
        with_ref_offset=True,  # 5
        ref_inverse_sigmoid_eps=1e-3,  # 5
    ),
    test_cfg=dict(
        rescale=False,  # as the paper config
        rescale_boxes=True,  # ours, as the paper config
        nt_score='sigmoid',  # 6
        mask_align_corners=True,  # 6
    ),
)
