# RaAM-RVG, joint REC+RES (Eq. 14) on RefCOCOg, UMD partition (splits val /
# test), ViT-B + BERT-base, the paper's schedule (Tables 1-2).
# test: --cfg-options test_dataloader.dataset.split=test
_base_ = [
    '../_base_/models/raam_vit-b_bert-base.py',
    '../_base_/datasets/refcoco.py',
    '../_base_/schedules/schedule_poly-60e.py',
    '../_base_/default_runtime.py',
]

data_root = 'data/refcocog/'
model = dict(head=dict(mode='rec_res'))
# x 2 GPUs = 16 (paper)
train_dataloader = dict(
    batch_size=8, dataset=dict(data_root=data_root, split_by='umd')
)
val_dataloader = dict(dataset=dict(data_root=data_root, split_by='umd'))
test_dataloader = val_dataloader
default_hooks = dict(
    checkpoint=dict(save_best='res/oIoU', rule='greater', max_keep_ckpts=3)
)
