# Copyright (c) mmgres contributors. All rights reserved.
"""Cost of the vision-language interaction alone: RaAM against direct
pixel-word attention, at the same feature sizes, in one run.

    python tools/analysis_tools/benchmark_interaction.py
        [--image-tokens 400 900 1600 3600] [--text-tokens 20 40 80]
        [--channels 768] [--text-channels 768] [--num-anchors 16]
        [--batch-size 1] [--warmup 2] [--iters 10] [--threads N]
        [--no-time] [--no-memory]

The two modules are RaAM-RVG's interaction blocks with the interface of
:class:`AnchoredVisionBackbone`: :class:`RegionAwareAnchoringNetwork`
(anchors, Eq. 1-8, here a stage after the first, whose incoming anchors have
the stage's width) and :class:`PixelWordAttentionFusion` (LAVT's pixel-word
attention and language gate, the paper's "Direct Interaction"). Both get the
same random visual map (B, C, h, w) with M = h·w image tokens, and the same T
word features; random weights, ``torch.no_grad``, eval mode.

What is measured, per (M, T):

* FLOPs: ``torch.utils.flop_counter.FlopCounterMode``. Convention: 1
  multiply-accumulate = 2 FLOPs; matmul/bmm/linear/convolution are counted,
  element-wise ops, softmax and normalisation are not. Exact, not sampled.
* time: the median wall time of ``--iters`` forward passes, the two modules
  interleaved so that machine noise hits both alike.
* peak memory: the torch profiler's memory timeline
  (``torch.profiler.profile(profile_memory=True, record_shapes=True,
  with_stack=True)``, ``export_memory_timeline(device='cpu')``) of one
  forward pass: the highest number of bytes of live tensors, minus those
  live at the start (parameters and inputs), i.e. the activations and
  outputs of the call. ``tracemalloc`` cannot be used: it sees only Python's
  allocator, not torch's.

The growth: each quantity is fitted by least squares on the (M, T) grid with
``a + b·M + c·T + d·M·T``. RaAM's cost is O(N·(M + T)): d = 0, and the
linear model ``a + b·M + c·T`` fits it exactly; direct attention has an
O(M·T) term, d > 0 (for FLOPs d = 2·(C_k + C_v)·B per pixel-word pair), which
the linear model misses. Ratios are direct / RaAM.

Whole model (``--model CONFIG``): the config's RaAM-RVG and the same model
with ``backbone.interaction='direct'`` (the paper's Table 5(a) baseline),
built with random weights, at ``--shape`` (480x480 by default) and batch
``--batch-size``, on the same image and expression, in one run: FLOPs of
the ``tensor``-mode forward (and of the interaction blocks alone), the
median forward time (interleaved) and the profiler's peak memory, with
ratios direct / RaAM::

    python tools/analysis_tools/benchmark_interaction.py \
        --model configs/raam/raam_vit-b_bert-base_2xb8-60e_grefcoco.py \
        [--shape 480 480] [--text "..."] [--iters 3] [--threads 1]
"""

import argparse
import copy
import json
import math
import os.path as osp
import re
import statistics
import tempfile
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmgres.models.layers import (
    PixelWordAttentionFusion,
    RegionAwareAnchoringNetwork,
)

MODULES = ('raam', 'direct')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark RaAM against direct interaction'
    )
    parser.add_argument(
        '--image-tokens',
        type=int,
        nargs='+',
        default=[400, 900, 1600, 3600],
        help='image token counts M of the grid, each an h x w map as '
        'square as possible (default: %(default)s)',
    )
    parser.add_argument(
        '--text-tokens',
        type=int,
        nargs='+',
        default=[20, 40, 80],
        help='text token counts T of the grid (default: %(default)s)',
    )
    parser.add_argument(
        '--channels',
        type=int,
        default=768,
        help='visual channels C_v (default: %(default)s)',
    )
    parser.add_argument(
        '--text-channels',
        type=int,
        default=768,
        help='word feature channels C_l (default: %(default)s)',
    )
    parser.add_argument(
        '--num-anchors',
        type=int,
        default=16,
        help='RaAM anchors N (default: %(default)s)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='batch size B (default: %(default)s)',
    )
    parser.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed forward passes first (default: %(default)s)',
    )
    parser.add_argument(
        '--iters',
        type=int,
        default=10,
        help='timed forward passes; the median is reported '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help="torch CPU threads (default: torch's own choice)",
    )
    parser.add_argument(
        '--no-time', action='store_true', help='skip the timing'
    )
    parser.add_argument(
        '--no-memory',
        action='store_true',
        help='skip the peak-memory measurement (the profiler is slow)',
    )
    parser.add_argument(
        '--model',
        default=None,
        help='a RaAM-RVG config: compare the whole model with its direct '
        'variant instead of the modules alone',
    )
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[480, 480], help='--model: H W'
    )
    parser.add_argument(
        '--text',
        default='the two men on the left next to the red car',
        help='--model: the expression (its token count is T)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=None,
        help='--model: key=value overrides of the config',
    )
    return parser.parse_args(argv)


def grid_shape(num_tokens: int) -> tuple:
    """(h, w) with h·w = ``num_tokens``, as square as possible."""
    h = int(math.isqrt(num_tokens))
    while num_tokens % h:
        h -= 1
    return h, num_tokens // h


def region_grid(num_anchors: int) -> tuple:
    """The region grid (rows, columns) of N anchors."""
    return grid_shape(num_anchors)


def build_modules(
    channels: int, text_channels: int, num_anchors: int
) -> Dict[str, torch.nn.Module]:
    """RaAM's and the direct interaction block, random weights, eval."""
    torch.manual_seed(0)
    raam = RegionAwareAnchoringNetwork(
        visual_channels=channels,
        text_channels=text_channels,
        anchor_channels=channels,
    )
    direct = PixelWordAttentionFusion(
        visual_channels=channels,
        text_channels=text_channels,
        region_grid=region_grid(num_anchors),
    )
    return dict(raam=raam.eval(), direct=direct.eval())


def make_inputs(
    num_image_tokens: int,
    num_text_tokens: int,
    channels: int,
    text_channels: int,
    num_anchors: int,
    batch_size: int = 1,
) -> dict:
    """Keyword inputs shared by both modules."""
    g = torch.Generator().manual_seed(
        num_image_tokens * 1000 + num_text_tokens
    )
    h, w = grid_shape(num_image_tokens)
    return dict(
        visual=torch.randn(batch_size, channels, h, w, generator=g),
        text=torch.randn(
            batch_size, num_text_tokens, text_channels, generator=g
        ),
        text_padding_mask=torch.zeros(
            batch_size, num_text_tokens, dtype=torch.bool
        ),
        anchors=torch.randn(batch_size, num_anchors, channels, generator=g),
    )


def count_flops(module: torch.nn.Module, inputs: dict) -> int:
    """FLOPs of one forward pass (1 MAC = 2 FLOPs)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(**inputs)
    return counter.get_total_flops()


def time_forward(module: torch.nn.Module, inputs: dict) -> float:
    """Wall time of one forward pass, seconds."""
    with torch.no_grad():
        t = time.perf_counter()
        module(**inputs)
        return time.perf_counter() - t


def peak_memory(module: torch.nn.Module, inputs: dict) -> Optional[int]:
    """Peak bytes of tensors allocated by one forward pass (see the module
    docstring), or None if the profiler cannot give a timeline."""
    from torch.profiler import ProfilerActivity, profile

    try:
        with torch.no_grad(), profile(
            activities=[ProfilerActivity.CPU],
            profile_memory=True,
            record_shapes=True,
            with_stack=True,
        ) as prof:
            module(**inputs)
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'memory.json')
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', FutureWarning)
                prof.export_memory_timeline(path, device='cpu')
            with open(path) as f:
                _, sizes = json.load(f)
    except Exception as e:  # the memory timeline is a prototype API
        warnings.warn(f'No memory timeline: {e!r}', stacklevel=2)
        return None
    live = np.asarray(sizes, dtype=np.float64).sum(axis=1)
    return int(live.max() - live[0])


def fit_growth(
    ms: Sequence[float], ts: Sequence[float], values: Sequence[float]
) -> dict:
    """Least-squares growth of ``values`` over the (M, T) points.

    Returns:
        dict: ``coef`` (a, b, c, d) of ``a + b·M + c·T + d·M·T``;
        ``linear_coef`` (a, b, c) of ``a + b·M + c·T``; ``linear_rel_err``
        and ``bilinear_rel_err``, the largest |residual| / value of each
        fit; ``mt_share``, d·M·T / value at the largest M·T.
    """
    m = np.asarray(ms, dtype=np.float64)
    t = np.asarray(ts, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    one = np.ones_like(m)
    lin = np.stack([one, m, t], axis=1)
    bil = np.stack([one, m, t, m * t], axis=1)
    lin_coef = np.linalg.lstsq(lin, y, rcond=None)[0]
    bil_coef = np.linalg.lstsq(bil, y, rcond=None)[0]
    scale = np.maximum(np.abs(y), 1e-12)
    k = int(np.argmax(m * t))
    return dict(
        coef=bil_coef.tolist(),
        linear_coef=lin_coef.tolist(),
        linear_rel_err=float(np.max(np.abs(lin @ lin_coef - y) / scale)),
        bilinear_rel_err=float(np.max(np.abs(bil @ bil_coef - y) / scale)),
        mt_share=float(bil_coef[3] * m[k] * t[k] / scale[k]),
    )


def run(args) -> List[dict]:
    """Measure both modules on the (M, T) grid; one row per point."""
    modules = build_modules(
        args.channels, args.text_channels, args.num_anchors
    )
    rows = []
    for m in args.image_tokens:
        for t in args.text_tokens:
            inputs = make_inputs(
                m,
                t,
                args.channels,
                args.text_channels,
                args.num_anchors,
                args.batch_size,
            )
            row = dict(M=m, T=t)
            for name, mod in modules.items():
                row[f'{name}_flops'] = count_flops(mod, inputs)
            if not args.no_time:
                times = {name: [] for name in modules}
                for i in range(args.warmup + args.iters):
                    for name, mod in modules.items():  # interleaved
                        dt = time_forward(mod, inputs)
                        if i >= args.warmup:
                            times[name].append(dt)
                for name in modules:
                    row[f'{name}_time'] = statistics.median(times[name])
            if not args.no_memory:
                for name, mod in modules.items():
                    row[f'{name}_mem'] = peak_memory(mod, inputs)
            rows.append(row)
    return rows


def _ratio(a, b):
    return a / b if a is not None and b else float('nan')


def report(rows: List[dict], args) -> Dict[str, dict]:
    """Print the raw values, the ratios and the growth fits."""
    keys = [('flops', 'GFLOPs', 1e-9)]
    if not args.no_time:
        keys.append(('time', 'ms', 1e3))
    if not args.no_memory:
        keys.append(('mem', 'MiB', 1 / 2**20))
    print(
        f'Interaction module alone: C_v={args.channels}, '
        f'C_l={args.text_channels}, N={args.num_anchors}, '
        f'batch {args.batch_size}, {torch.get_num_threads()} threads; '
        'FLOPs: 1 MAC = 2 FLOPs (FlopCounterMode); time: median of '
        f'{args.iters}; memory: profiler peak above the start.'
    )
    header = f'{"M":>5s} {"T":>4s}'
    for _, unit, _ in keys:
        header += (
            f' | {"RaAM " + unit:>12s} {"direct " + unit:>13s} '
            f'{"direct/RaAM":>11s}'
        )
    print(header)
    print('-' * len(header))
    for row in rows:
        line = f'{row["M"]:5d} {row["T"]:4d}'
        for key, _, scale in keys:
            a, b = row.get(f'raam_{key}'), row.get(f'direct_{key}')
            fa = 'n/a' if a is None else f'{a * scale:.4g}'
            fb = 'n/a' if b is None else f'{b * scale:.4g}'
            line += f' | {fa:>12s} {fb:>13s} {_ratio(b, a):11.2f}'
        print(line)

    fits = {}
    print('\nGrowth: least squares of a + b*M + c*T + d*M*T over the grid')
    for key, unit, scale in keys:
        for name in MODULES:
            values = [r.get(f'{name}_{key}') for r in rows]
            if any(v is None for v in values) or len(rows) < 4:
                continue
            fit = fit_growth(
                [r['M'] for r in rows],
                [r['T'] for r in rows],
                [v * scale for v in values],
            )
            fits[f'{name}_{key}'] = fit
            a, b, c, d = fit['coef']
            print(
                f'{name:>6s} {unit:>6s}: a={a:.4g} b={b:.4g}/M c={c:.4g}/T '
                f'd={d:.4g}/(M*T); d*M*T share at max M*T '
                f'{fit["mt_share"]:.1%}; max rel. error of the fit linear '
                f'in M+T {fit["linear_rel_err"]:.2%}, with M*T '
                f'{fit["bilinear_rel_err"]:.2%}'
            )
    return fits


def build_model_pair(
    config: str, cfg_options: Optional[Sequence[str]] = None
) -> Dict[str, torch.nn.Module]:
    """The config's model with RaAM and with direct interaction, random
    weights (no download), eval mode, offline tokenizer."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    if cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *cfg_options]).o)
    models = {}
    for name, interaction in (('raam', 'anchor'), ('direct', 'direct')):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.backbone.interaction = interaction
        if interaction == 'direct':
            # the anchors' options (the L2V gate, Eq. 8's source) do not
            # apply to the direct twin
            model_cfg.backbone.pop('interaction_cfg', None)
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope('mmgres'):
            models[name] = MODELS.build(model_cfg).eval()
    return models


def model_inputs(
    model: torch.nn.Module, shape: Sequence[int], text: str, batch_size: int
) -> dict:
    """Preprocessed demo inputs of a grounder for its ``tensor`` mode."""
    from mmgres.testing import demo_grounding_inputs, ensure_offline_tokenizer

    ensure_offline_tokenizer(model, [text])
    inputs, samples = demo_grounding_inputs(
        batch_size=batch_size, image_shape=tuple(shape), texts=[text]
    )
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    return dict(**data, mode='tensor')


def interaction_flops(model: torch.nn.Module, inputs: dict) -> tuple:
    """(total FLOPs, FLOPs of the backbone's interaction blocks, the
    (M, T) each block sees)."""
    sizes = []

    def hook(module, args):
        visual, text = args[:2]
        sizes.append((visual.shape[-2] * visual.shape[-1], text.shape[1]))

    handles = [
        m.register_forward_pre_hook(hook) for m in model.backbone.interactions
    ]
    counter = FlopCounterMode(display=False)
    try:
        # grad mode on: see tools/analysis_tools/get_flops.py
        with counter:
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    blocks = sum(
        sum(ops.values())
        for name, ops in counter.get_flop_counts().items()
        if re.search(r'\.backbone\.interactions\.\d+$', name)
    )
    return counter.get_total_flops(), blocks, sizes


def run_model(args) -> dict:
    """Measure the whole model with RaAM and with direct interaction."""
    models = build_model_pair(args.model, args.cfg_options)
    inputs = {
        name: model_inputs(m, args.shape, args.text, args.batch_size)
        for name, m in models.items()
    }
    row = dict(
        params={
            k: sum(p.numel() for p in m.parameters())
            for k, m in models.items()
        }
    )
    for name, m in models.items():
        total, blocks, sizes = interaction_flops(m, inputs[name])
        row[f'{name}_flops'], row[f'{name}_block_flops'] = total, blocks
    row['M'] = [m for m, _ in sizes]
    row['T'] = sizes[0][1]
    if not args.no_time:
        times = {name: [] for name in models}
        for i in range(args.warmup + args.iters):
            for name, m in models.items():  # interleaved
                dt = time_forward(m, inputs[name])
                if i >= args.warmup:
                    times[name].append(dt)
        for name in models:
            row[f'{name}_time'] = statistics.median(times[name])
    if not args.no_memory:
        for name, m in models.items():
            row[f'{name}_mem'] = peak_memory(m, inputs[name])
    return row


def report_model(row: dict, args) -> None:
    """Print the whole-model comparison."""
    h, w = args.shape
    print(
        f'Whole model: {args.model}, {h}x{w}, batch {args.batch_size}, '
        f'T={row["T"]} text tokens, M per stage {row["M"]}, '
        f'{torch.get_num_threads()} threads; time: median of {args.iters}.'
    )
    items = [
        ('params', 'M', 1e-6, row['params']['raam'], row['params']['direct'])
    ]
    for key, unit, scale in (
        ('flops', 'GFLOPs', 1e-9),
        ('block_flops', 'GFLOPs', 1e-9),
        ('time', 's', 1.0),
        ('mem', 'MiB', 1 / 2**20),
    ):
        if f'raam_{key}' in row:
            items.append(
                (key, unit, scale, row[f'raam_{key}'], row[f'direct_{key}'])
            )
    print(f'{"":>12s} {"RaAM":>12s} {"direct":>12s} {"direct/RaAM":>11s}')
    for key, unit, scale, a, b in items:
        fa = 'n/a' if a is None else f'{a * scale:.4g}'
        fb = 'n/a' if b is None else f'{b * scale:.4g}'
        label = 'interaction' if key == 'block_flops' else key
        print(
            f'{label + " " + unit:>12s} {fa:>12s} {fb:>12s} '
            f'{_ratio(b, a):11.3f}'
        )


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model:
        row = run_model(args)
        report_model(row, args)
        return row
    rows = run(args)
    fits = report(rows, args)
    return rows, fits


if __name__ == '__main__':
    main()
