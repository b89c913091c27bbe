"""Build InstAlign from the real config, shrunk, and fake batches."""

import copy

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmgres.models.language_models import tiny_text_encoder_cfg

BASE = 'configs/_base_/models/instalign_swin-b_bert-base.py'
VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']


def shrink_instalign(model_cfg, dims=32, queries=6, layers=2):
    """The real InstAlign config with tiny widths and depths."""
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.update(
        embed_dims=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        pretrain_img_size=64,
        init_cfg=None,
        drop_path_rate=0.0,
    )
    cfg.text_encoder = tiny_text_encoder_cfg(VOCAB, hidden_size=32)
    head = cfg.head
    head.update(
        in_channels=[16, 32, 64, 128],
        text_channels=32,
        feat_channels=dims,
        out_channels=dims,
        num_queries=queries,
    )
    pd = head.pixel_decoder
    pd.norm_cfg = dict(type='GN', num_groups=8)
    pd.encoder.num_layers = 1
    pd.encoder.layer_cfg.self_attn_cfg.update(
        embed_dims=dims, num_heads=4, num_points=2
    )
    pd.encoder.layer_cfg.ffn_cfg.update(
        embed_dims=dims, feedforward_channels=dims * 2
    )
    pd.positional_encoding.num_feats = dims // 2
    head.positional_encoding.num_feats = dims // 2
    td = head.transformer_decoder
    td.num_layers = layers
    for k in ('self_attn_cfg', 'cross_attn_cfg', 'text_attn_cfg'):
        td.layer_cfg[k].update(embed_dims=dims, num_heads=4)
    td.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=dims * 2)
    cfg.train_cfg.num_points = 64
    cfg.test_cfg.max_per_image = queries
    return cfg


def tiny_instalign_cfg(**kwargs):
    return shrink_instalign(Config.fromfile(BASE).model, **kwargs)


def fake_batch(batch_size=2, size=64, no_target_first=True, seed=0):
    """Inputs and samples: sample 0 is no-target, the others have 2
    instances. Masks and merged masks at the padded input size."""
    rng = np.random.RandomState(seed)
    inputs = torch.from_numpy(
        rng.randint(0, 255, (batch_size, 3, size, size)).astype(np.uint8)
    )
    samples = []
    for i in range(batch_size):
        nt = no_target_first and i == 0
        masks = np.zeros((0 if nt else 2, size, size), np.uint8)
        if not nt:
            masks[0, 4:20, 4:20] = 1
            masks[1, 30:50, 26:60] = 1
        s = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size),
                batch_input_shape=(size, size),
                scale_factor=(1.0, 1.0),
                text='the red circle on the left' if not nt else 'blue square',
                no_target=nt,
            )
        )
        s.gt_instances = InstanceData(
            masks=BitmapMasks(masks, size, size),
            labels=torch.zeros(len(masks), dtype=torch.long),
            bboxes=torch.zeros(len(masks), 4),
        )
        s.gt_sem_seg = PixelData(
            data=torch.from_numpy(masks.any(0, keepdims=True).astype(np.uint8))
        )
        samples.append(s)
    return inputs, samples
