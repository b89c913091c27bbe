# The [REJ]-weighted tiny GSVA (ours, see its 8-epoch config) trained for 16
# epochs, validated every 4. Results in ../README.md.
_base_ = ['./gsva_tiny_1xb8-8e_synthetic-grefcoco_rej-weighted.py']

max_epochs = 16
train_cfg = dict(max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True,
    ),
]
