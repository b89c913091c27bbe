# Joint REC+RES on RefCOCOg, UMD partition (splits val / test), as the
# paper's Tables 1-2. test: --cfg-options test_dataloader.dataset.split=test
_base_ = ['./raam_vit-b_bert-base_2xb8-60e_refcoco.py']

data_root = 'data/refcocog/'
train_dataloader = dict(dataset=dict(data_root=data_root, split_by='umd'))
val_dataloader = dict(dataset=dict(data_root=data_root, split_by='umd'))
test_dataloader = val_dataloader
