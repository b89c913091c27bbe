# Tiny RaAM-RVG, joint REC+RES (Eq. 14: L_r + L_p^det + L_p^seg), on the
# classic RefCOCO-style variant of the synthetic benchmark
# (data/synthetic_grefcoco/refcoco/: refs(unc).p with one target per ref,
# and its instances.json; the images are the benchmark's own). Scored with
# RESMetric (oIoU, mIoU) and RECMetric (Prec@0.5 of the box head's box).
# The model and schedule are the tiny GRES config's.
_base_ = ['./raam_tiny_1xb8-8e_synthetic-grefcoco.py']

dataset_type = 'RefCOCODataset'
data_root = 'data/synthetic_grefcoco/refcoco/'
data = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='instances.json',
    split_by='unc',  # refs(unc).p
    data_prefix=dict(img_path='../images/'),
    backend_args=None,
)

model = dict(head=dict(mode='rec_res'))

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **data,
        split='train',
        text_mode='random',
        pipeline={{_base_.train_pipeline}},
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **data,
        split='val',
        text_mode='all',
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
    )
)
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        **data,
        split='testA',
        text_mode='all',
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
    )
)
val_evaluator = [dict(type='RESMetric'), dict(type='RECMetric')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='res/oIoU'))
