# RaAM-RVG, joint REC+RES (Eq. 14) on RefCOCO (unc), ViT-B + BERT-base, the
# paper's schedule. Scored with RESMetric (oIoU, mIoU, Pr@X; paper Table 2)
# and RECMetric (Prec@0.5 of the box head's box; paper Table 1).
# testA / testB: --cfg-options test_dataloader.dataset.split=testA
_base_ = [
    '../_base_/models/raam_vit-b_bert-base.py',
    '../_base_/datasets/refcoco.py',
    '../_base_/schedules/schedule_poly-60e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(mode='rec_res'))
train_dataloader = dict(batch_size=8)  # x 2 GPUs = 16 (paper)
default_hooks = dict(
    checkpoint=dict(save_best='res/oIoU', rule='greater', max_keep_ckpts=3)
)
