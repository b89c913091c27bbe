# RaAM-RVG, the paper's GRES setting on gRefCOCO: ViT-B + BERT-base,
# K = 4, J = 2, N = 16, beta = 1.2; AdamW (wd 0.05), lr 2e-5, poly 0.9,
# 60 epochs, batch 16 (2 GPUs x 8). One expression per ref is drawn at
# random every epoch (paper Sec. 4.2). What is ours is marked in the bases.
_base_ = [
    '../_base_/models/raam_vit-b_bert-base.py',
    '../_base_/datasets/grefcoco_gres.py',
    '../_base_/schedules/schedule_poly-60e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=8, dataset=dict(text_mode='random'))
default_hooks = dict(
    checkpoint=dict(save_best='gres/gIoU', rule='greater', max_keep_ckpts=3)
)
