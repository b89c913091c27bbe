# RefCLEF (ReferItGame): one target per expression, SAIAPR TC-12 images;
# the RefCOCO settings with another dataset class, root and image folder.
# Files (see docs/en/user_guides/dataset_prepare.md):
#   data/refclef/refs(unc).p, data/refclef/refs(berkeley).p,
#   data/refclef/instances.json, data/refclef/images/saiapr_tc-12/
# split_by='unc' (GSVA's and LISA's choice): train, val, testA, testB,
# testC; split_by='berkeley': train, val, test.
# testA / testB / testC (unc) or test (berkeley):
# --cfg-options test_dataloader.dataset.split=testA
_base_ = ['./refcoco.py']

dataset_type = 'RefCLEFDataset'
data_root = 'data/refclef/'
refclef = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='images/saiapr_tc-12/'),
)
train_dataloader = dict(dataset=refclef)
val_dataloader = dict(dataset=refclef)
test_dataloader = val_dataloader
