# RaAM-RVG with Swin-B (ImageNet-22K) on gRefCOCO GRES, the paper's
# schedule (AdamW wd 0.05, lr 2e-5, poly 0.9, 60 epochs, batch 16).
_base_ = [
    '../_base_/models/raam_swin-b_bert-base.py',
    '../_base_/datasets/grefcoco_gres.py',
    '../_base_/schedules/schedule_poly-60e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=8, dataset=dict(text_mode='random'))
default_hooks = dict(
    checkpoint=dict(save_best='gres/gIoU', rule='greater', max_keep_ckpts=3)
)
