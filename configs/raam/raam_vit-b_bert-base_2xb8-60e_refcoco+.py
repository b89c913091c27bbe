# Joint REC+RES on RefCOCO+ (unc splits val / testA / testB).
_base_ = ['./raam_vit-b_bert-base_2xb8-60e_refcoco.py']

data_root = 'data/refcoco+/'
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
