# RaAM-RVG with Swin-B, joint REC+RES (Eq. 14) on RefCOCO (unc), the
# paper's schedule (Tables 1-2, Swin-B rows).
_base_ = [
    '../_base_/models/raam_swin-b_bert-base.py',
    '../_base_/datasets/refcoco.py',
    '../_base_/schedules/schedule_poly-60e.py',
    '../_base_/default_runtime.py',
]

model = dict(head=dict(mode='rec_res'))
train_dataloader = dict(batch_size=8)  # x 2 GPUs = 16 (paper)
default_hooks = dict(
    checkpoint=dict(save_best='res/oIoU', rule='greater', max_keep_ckpts=3)
)
