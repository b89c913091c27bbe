"""Tiny IGVGExtendedHead configs, inputs and samples for the tests."""

import copy

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

import projects.igvg_extensions.igvg_extensions  # noqa: F401
from mmgres.registry import MODELS

C = 16
Q = 4
SIZE = 64  # input side; stride-16 map 4x4, levels 16, 8, 4, 2
# two objects: A top-left, B bottom-right; masks exactly fill their boxes
BOX_A = [4.0, 4.0, 20.0, 28.0]
BOX_B = [36.0, 32.0, 60.0, 56.0]
DEFAULT_ARGS = dict(
    type='IGVGExtendedHead',
    embed_dims=C,
    num_queries=Q,
    num_levels=4,
    mask_decoder=dict(
        type='TextGatedUNetMaskDecoder', num_convs=1, text_channels=C
    ),
    nt_branch=dict(
        type='SentenceNoTargetBranch', text_channels=C, feat_channels=C
    ),
    aqg=dict(
        type='AdaptiveQueryGenerator',
        cross_attention=dict(
            type='ScoreMapCrossAttention',
            num_heads=2,
            ffn_cfg=dict(feedforward_channels=2 * C, ffn_drop=0.0),
        ),
        query_injector=dict(type='InjectTextQuery', num_layers=2),
    ),
    decoder=dict(
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=C, num_heads=2, dropout=0.0, batch_first=True
            ),
            cross_attn_cfg=dict(
                embed_dims=C,
                num_levels=4,
                num_heads=2,
                num_points=2,
                dropout=0.0,
                batch_first=True,
            ),
            ffn_cfg=dict(embed_dims=C, feedforward_channels=2 * C),
        ),
    ),
)


def build_head(**kwargs):
    torch.manual_seed(0)
    cfg = copy.deepcopy(DEFAULT_ARGS)
    cfg.update(copy.deepcopy(kwargs))
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def feats(bsz=2, length=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    levels = [
        torch.randn(bsz, C, SIZE // s, SIZE // s, generator=g)
        for s in (4, 8, 16, 32)
    ]
    img = torch.randn(bsz, C, SIZE // 16, SIZE // 16, generator=g)
    text = torch.randn(bsz, length, C, generator=g)
    pad = torch.zeros(bsz, length, dtype=torch.bool)
    pad[0, 4:] = True
    return levels, img, text, pad


def sample(boxes=(BOX_A, BOX_B), no_target=False, img_shape=(SIZE, SIZE)):
    n = 0 if no_target else len(boxes)
    masks = torch.zeros(n, SIZE, SIZE, dtype=torch.uint8)
    for k in range(n):
        x0, y0, x1, y1 = (int(v) for v in boxes[k])
        masks[k, y0:y1, x0:x1] = 1
    s = DetDataSample(
        metainfo=dict(
            img_shape=img_shape,
            ori_shape=img_shape,
            batch_input_shape=(SIZE, SIZE),
            pad_shape=(SIZE, SIZE),
            scale_factor=(1.0, 1.0),
            no_target=no_target,
            text='the two shapes',
        )
    )
    s.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes[:n], dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(n, dtype=torch.long),
        masks=BitmapMasks(masks.numpy(), SIZE, SIZE),
    )
    s.gt_sem_seg = PixelData(data=masks.any(0, keepdim=True).to(torch.uint8))
    return s


def add_context_instances(samples, others=((40.0, 40.0, 60.0, 60.0),)):
    """Give every sample ``gt_context_instances`` as
    ``PackReferringInputs`` does for a ``with_context=True`` dataset: its
    targets (label 0) then one other object (label 1) per xyxy box of
    ``others``, masks filling the boxes; ``categories`` k % 3 for the k-th
    object."""
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
