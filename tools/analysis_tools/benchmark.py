# Copyright (c) mmgres contributors. All rights reserved.
"""Inference images/s and training iterations/s of a grounder, optionally
beside mmdet's Mask2Former on the same backbone, pixel decoder, decoder and
input size, measured in the same run.

    python tools/analysis_tools/benchmark.py CONFIG [--compare-mask2former]
        [--batch-size 2] [--shape H W] [--warmup 2] [--iters 5]
        [--cfg-options ...]

Inputs are random images and masks at the config's test input size
(``mmgres.testing.demo_grounding_inputs``); data loading is not timed.
Timings interleave the models so that machine noise hits both alike; report
the ratios, not the absolute numbers.
"""

import argparse
import copy
import time

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs, ensure_offline_tokenizer
from mmgres.utils import hub_offline, register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark a grounder')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--compare-mask2former',
        action='store_true',
        help="also time mmdet's Mask2Former with the same backbone, pixel "
        'decoder, decoder and input size, interleaved with the grounder',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=2,
        help='images per step (default: %(default)s)',
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=None,
        metavar=('H', 'W'),
        help='input size; default: the test Resize scale of the config',
    )
    parser.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed steps per model first (default: %(default)s)',
    )
    parser.add_argument(
        '--iters',
        type=int,
        default=5,
        help='timed steps per model; the median is reported '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help="torch CPU threads (default: torch's own choice)",
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


def mask2former_counterpart(model_cfg):
    """mmdet's Mask2Former with the grounder's backbone, pixel decoder,
    decoder widths/depths, queries and point sampling; one class."""
    head = copy.deepcopy(model_cfg.head)
    decoder = head.transformer_decoder
    decoder.layer_cfg.pop('text_attn_cfg', None)
    train_cfg = copy.deepcopy(model_cfg.train_cfg)
    train_cfg.assigner = dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type='ClassificationCost', weight=2.0),
            dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
            dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
        ],
    )
    return ConfigDict(
        type='mmdet.Mask2Former',
        data_preprocessor=model_cfg.data_preprocessor,
        backbone=model_cfg.backbone,
        panoptic_head=dict(
            type='mmdet.Mask2FormerHead',
            in_channels=head.in_channels,
            strides=head.get('strides', [4, 8, 16, 32]),
            feat_channels=head.feat_channels,
            out_channels=head.out_channels,
            num_things_classes=1,
            num_stuff_classes=0,
            num_queries=head.num_queries,
            num_transformer_feat_level=head.get(
                'num_transformer_feat_level', 3
            ),
            pixel_decoder=head.pixel_decoder,
            enforce_decoder_input_project=False,
            positional_encoding=head.positional_encoding,
            transformer_decoder=decoder,
            loss_cls=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=2.0,
                reduction='mean',
                class_weight=[1.0, 0.1],
            ),
            loss_mask=head.loss_mask,
            loss_dice=head.loss_dice,
        ),
        panoptic_fusion_head=dict(
            type='mmdet.MaskFormerFusionHead',
            num_things_classes=1,
            num_stuff_classes=0,
            loss_panoptic=None,
            init_cfg=None,
        ),
        train_cfg=train_cfg,
        test_cfg=dict(
            panoptic_on=False,
            semantic_on=False,
            instance_on=True,
            max_per_image=head.num_queries,
            iou_thr=0.8,
            filter_low_score=True,
        ),
    )


def input_shape(cfg):
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            return t['scale'][1], t['scale'][0]
    raise ValueError('No Resize in the test pipeline; pass --shape H W')


class Runner:
    """Times one model's predict and train steps on fixed demo inputs."""

    def __init__(self, name, model, inputs, samples):
        self.name = name
        self.model = model
        self.inputs = inputs
        self.samples = samples
        self.optim = build_optim_wrapper(
            model, dict(optimizer=dict(type='AdamW', lr=1e-5))
        )
        self.times = dict(infer=[], train=[])

    def _data(self, training):
        samples = [copy.deepcopy(s) for s in self.samples]
        return self.model.data_preprocessor(
            dict(inputs=self.inputs.clone(), data_samples=samples), training
        )

    def infer(self, record=True):
        self.model.eval()
        data = self._data(False)
        t = time.perf_counter()
        with torch.no_grad():
            self.model(**data, mode='predict')
        if record:
            self.times['infer'].append(time.perf_counter() - t)

    def train(self, record=True):
        self.model.train()
        data = self._data(True)
        t = time.perf_counter()
        losses = self.model(**data, mode='loss')
        loss, _ = self.model.parse_losses(losses)
        self.optim.update_params(loss)
        if record:
            self.times['train'].append(time.perf_counter() - t)


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape) if args.shape else input_shape(cfg)
    bs = args.batch_size
    # Offline, a hub tokenizer gives way to a stand-in: one request decides
    # that, instead of the hub's retries for each file.
    hub_offline()
    runners = []
    with DefaultScope.overwrite_default_scope('mmgres'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        inputs, samples = demo_grounding_inputs(bs, shape)
        ensure_offline_tokenizer(model, [s.text for s in samples])
        runners.append(Runner('grounder', model, inputs, samples))
        if args.compare_mask2former:
            torch.manual_seed(0)
            m2f = MODELS.build(mask2former_counterpart(cfg.model))
            # mmdet's Mask2Former reads gt_sem_seg.sem_seg; it needs none
            m2f_in, m2f_samples = demo_grounding_inputs(
                bs, shape, with_sem_seg=False
            )
            runners.append(Runner('Mask2Former', m2f, m2f_in, m2f_samples))
        for r in runners:
            for _ in range(args.warmup):
                r.infer(record=False)
                r.train(record=False)
        for _ in range(args.iters):  # interleaved
            for r in runners:
                r.infer()
                r.train()

    print(
        f'config: {args.config}; input {shape[0]}x{shape[1]}, batch {bs}, '
        f'{torch.get_num_threads()} threads, {args.iters} timed iterations'
    )
    for r in runners:
        inf = sorted(r.times['infer'])[len(r.times['infer']) // 2]
        trn = sorted(r.times['train'])[len(r.times['train']) // 2]
        params = sum(p.numel() for p in r.model.parameters()) / 1e6
        print(
            f'{r.name:<12s} params {params:8.2f} M  inference '
            f'{bs / inf:8.2f} img/s  training {1 / trn:8.3f} iter/s'
        )
    if len(runners) > 1:
        g, m = runners
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        print(
            'ratio grounder / Mask2Former (time): inference '
            f'{med(g.times["infer"]) / med(m.times["infer"]):.2f}x, '
            f'training {med(g.times["train"]) / med(m.times["train"]):.2f}x'
        )


if __name__ == '__main__':
    main()
