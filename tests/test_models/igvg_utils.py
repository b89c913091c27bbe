"""Build IGVG from the real config, shrunk, and fake batches."""

import copy

import numpy as np
import torch
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmgres.testing import demo_grounding_inputs, tiny_beit3_cfg

BASE = 'configs/_base_/models/igvg_beit3-base.py'
VOCAB = ['the', 'red', 'blue', 'circle', 'square', 'left', 'right', 'all']


def shrink_igvg(model_cfg, dims=32, queries=4, layers=2, size=64):
    """The real IGVG config with tiny widths and depths (random init)."""
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone = tiny_beit3_cfg(
        vocab=VOCAB, img_size=size, out_channels=dims, max_length=12
    )
    cfg.neck.update(in_channels=dims, out_channels=dims)
    head = cfg.head
    head.update(embed_dims=dims, num_queries=queries)
    head.nt_branch.update(feat_channels=dims)
    head.aqg.cross_attention.update(
        num_heads=2, ffn_cfg=dict(feedforward_channels=dims * 2)
    )
    head.aqg.query_injector.num_layers = 2
    dec = head.decoder
    dec.num_layers = layers
    dec.layer_cfg.self_attn_cfg.update(embed_dims=dims, num_heads=2)
    dec.layer_cfg.cross_attn_cfg.update(
        embed_dims=dims, num_heads=2, num_points=2
    )
    dec.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=dims)
    cfg.test_cfg.max_per_image = queries
    return cfg


def tiny_igvg_cfg(**kwargs):
    return shrink_igvg(Config.fromfile(BASE).model, **kwargs)


def fake_batch(batch_size=2, size=64, no_target_first=True, seed=0):
    """Inputs and samples: sample 0 is no-target, the others have 2
    rectangular instances (masks exactly fill their boxes)."""
    return demo_grounding_inputs(
        batch_size=batch_size,
        image_shape=(size, size),
        num_instances=2,
        texts=('the red circle', 'all blue squares on the left'),
        no_target_first=no_target_first,
        seed=seed,
    )


def add_context_instances(samples, others=((40.0, 40.0, 60.0, 60.0),)):
    """Give every sample ``gt_context_instances`` as
    ``PackReferringInputs`` does for a ``with_context=True`` dataset: its
    targets (label 0) then one other object (label 1) per xyxy box of
    ``others``, masks filling the boxes, at the size of the targets' masks;
    ``categories`` k % 3 for the k-th object."""
    for s in samples:
        gt = s.gt_instances
        h, w = gt.masks.height, gt.masks.width
        extra = np.zeros((len(others), h, w), np.uint8)
        for k, (x0, y0, x1, y1) in enumerate(others):
            extra[k, int(y0) : int(y1), int(x0) : int(x1)] = 1
        boxes = get_box_tensor(gt.bboxes).float().reshape(-1, 4)
        n = len(boxes) + len(others)
        s.gt_context_instances = InstanceData(
            masks=BitmapMasks(
                np.concatenate([gt.masks.masks.reshape(-1, h, w), extra]),
                h,
                w,
            ),
            bboxes=torch.cat(
                [boxes, torch.tensor(others, dtype=torch.float32)]
            ).reshape(-1, 4),
            labels=torch.cat(
                [
                    torch.zeros(len(boxes), dtype=torch.long),
                    torch.ones(len(others), dtype=torch.long),
                ]
            ),
            categories=torch.arange(n) % 3,
        )
    return samples
