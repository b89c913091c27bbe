"""Build IGVG from the real config, shrunk, and fake batches; a tiny
IGVGHead alone, its inputs and hand-made samples."""

import copy

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmgres.registry import MODELS
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


# IGVGHead alone: C wide, Q queries, two decoder layers, on SIZE x SIZE
# inputs (stride-16 map 4x4, levels 16, 8, 4, 2)
C = 16
Q = 4
SIZE = 64
TINY_HEAD = dict(
    type='IGVGHead',
    embed_dims=C,
    num_queries=Q,
    num_levels=4,
    mask_decoder=dict(type='UNetMaskDecoder', num_convs=1),
    nt_branch=dict(type='NoTargetBranch', feat_channels=C),
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
# two objects: A top-left, B bottom-right; masks exactly fill their boxes
BOX_A = [4.0, 4.0, 20.0, 28.0]
BOX_B = [36.0, 32.0, 60.0, 56.0]


def build_head(base=TINY_HEAD, **kwargs):
    """The ``base`` head config updated with ``kwargs``, built with seed 0
    and initialised."""
    torch.manual_seed(0)
    cfg = copy.deepcopy(base)
    cfg.update(copy.deepcopy(kwargs))
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def focal_head_args(cls_cost='FocalLossCost'):
    """Head kwargs for sigmoid focal classification: ``FocalLoss`` and
    Eq. 4's assigner with ``cls_cost`` as its class cost."""
    return dict(
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, alpha=0.25, loss_weight=1.0
        ),
        train_cfg=dict(
            assigner=dict(
                type='HungarianAssigner',
                match_costs=[
                    dict(type=cls_cost, weight=1.0),
                    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                    dict(type='IoUCost', iou_mode='giou', weight=2.0),
                    dict(type='PointL1Cost', weight=2.0),
                ],
            )
        ),
    )


def head_inputs(bsz=2, length=6, seed=1):
    """Random SimFPN levels, F_i, F_t and the words' padding mask (sample
    0 has 4 words of ``length``)."""
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


def head_sample(boxes=(BOX_A, BOX_B), no_target=False, img_shape=(SIZE, SIZE)):
    """A sample whose targets are ``boxes`` (xyxy), masks filling them."""
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
