# Copyright (c) mmgres contributors. All rights reserved.
"""Parameters and FLOPs of a grounder at a given input size.

    python tools/analysis_tools/get_flops.py CONFIG [--shape 480 480]
        [--text "the two men on the left"] [--cfg-options ...]

Counting convention: torch's ``FlopCounterMode`` counts 2 FLOPs per
multiply-accumulate of matmul/conv/attention (the standard convention); the
``MACs`` column (= FLOPs / 2) is what fvcore/detectron2 and many papers call
"FLOPs". Element-wise ops, normalisation, softmax and ``grid_sample`` (the
CPU path of deformable attention) are not counted. The model runs in
``tensor`` mode (no post-processing), with random weights. Counts are
printed in the largest unit they reach (T = 1e12, G = 1e9, M = 1e6, K),
to 4 significant digits.

Only the token count of the expression matters, so without the HuggingFace
hub (``HF_HUB_OFFLINE=1``, or no network) and without a local copy of the
text encoder's tokenizer, a word-level stand-in is used.
"""

import argparse

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope
from torch.utils.flop_counter import FlopCounterMode

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs, ensure_offline_tokenizer
from mmgres.utils import hub_offline, register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description='Count params and FLOPs')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=None,
        metavar=('H', 'W'),
        help='input size; default: the test Resize scale of the config',
    )
    parser.add_argument(
        '--text',
        default='the two men on the left',
        help='the expression fed with the image (default: %(default)r)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


_UNITS = (('T', 1e12), ('G', 1e9), ('M', 1e6), ('K', 1e3))


def format_flops(flops: float, digits: int = 4) -> str:
    """``flops`` in the largest unit (T, G, M or K) it reaches, to
    ``digits`` significant digits: 2.35e11 -> ``'235 G'``, 1.5e4 ->
    ``'15 K'``; below 1e3 it is given in K."""
    i = next(
        (i for i, (_, scale) in enumerate(_UNITS) if abs(flops) >= scale),
        len(_UNITS) - 1,
    )
    value = float(f'{flops / _UNITS[i][1]:.{digits}g}')
    if abs(value) >= 1e3 and i > 0:  # 999.97 G rounds to 1000 G: say 1 T
        i -= 1
        value = flops / _UNITS[i][1]
    return f'{value:.{digits}g} {_UNITS[i][0]}'


def input_shape_from_cfg(cfg):
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            w, h = t['scale']
            return h, w
    raise ValueError('No Resize in the test pipeline; pass --shape H W')


def count(model, inputs, samples):
    """(FLOPs, per-module FLOPs) of one forward in tensor mode."""
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    # grad mode stays on: under no_grad, a slice of a parameter (RaAM's
    # anchors) is a view that requires grad but has no grad_fn, on which
    # FlopCounterMode's module tracker fails. Only the forward is counted.
    with FlopCounterMode(display=False, depth=2) as counter:
        model(**data, mode='tensor')
    return counter.get_total_flops(), counter.get_flop_counts()


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape) if args.shape else input_shape_from_cfg(cfg)
    # Offline, a hub tokenizer gives way to a stand-in: one request decides
    # that, instead of the hub's retries for each file.
    hub_offline()
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model).eval()
    ensure_offline_tokenizer(model, [args.text])
    inputs, samples = demo_grounding_inputs(
        batch_size=1, image_shape=shape, texts=[args.text]
    )
    total, per_module = count(model, inputs, samples)
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}')
    print(f'input: {shape[0]}x{shape[1]}, text: {args.text!r}')
    print(f'params: {params / 1e6:.2f} M')
    print(f'FLOPs: {format_flops(total)}  (MACs: {format_flops(total / 2)})')
    top = sorted(
        (
            (k, sum(v.values()))
            for k, v in per_module.items()
            if k.count('.') == 1
        ),
        key=lambda kv: -kv[1],
    )
    for name, flops in top:
        print(f'  {name:<40s} {format_flops(flops):>9s}FLOPs')


if __name__ == '__main__':
    main()
