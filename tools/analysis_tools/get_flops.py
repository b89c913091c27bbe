# Copyright (c) mmgres contributors. All rights reserved.
"""Parameters and FLOPs of a grounder at a given input size.

    python tools/analysis_tools/get_flops.py CONFIG [--shape 480 480]
        [--text "the two men on the left"] [--depth 1] [--by-op]
        [--cfg-options ...]

Counting convention: torch's ``FlopCounterMode`` counts 2 FLOPs per
multiply-accumulate of matmul/conv/attention (the standard convention); the
``MACs`` column (= FLOPs / 2) is what fvcore/detectron2 and many papers call
"FLOPs". Element-wise ops, normalisation, softmax and ``grid_sample`` (the
CPU path of deformable attention) are not counted.
``docs/en/notes/instalign_flops.md`` compares this convention with other
counters' on InstAlign, Mask2Former and ReLA. The model runs in
``tensor`` mode (no post-processing), with random weights. Counts are
printed in the largest unit they reach (T = 1e12, G = 1e9, M = 1e6, K),
to 4 significant digits.

The breakdown lists the parts ``--depth`` levels below the model
(1: backbone, text encoder, head; 2: also the head's pixel decoder,
transformer decoder, ...). A part's count is that of its forward, or, when
the part's forward is not called as a module (mmdet's heads call
``transformer_decoder.layers[i]`` and ``head.forward`` directly), the sum
of its submodules that are; the ops that run in the body of a forward
outside any listed part form a ``(rest)`` row of that module, so that the
rows add up to the total.

``--by-op`` adds the whole model's FLOPs per counted operator
(``aten.addmm`` for linear layers, ``aten.convolution``, ``aten.bmm`` for
batched matmuls and einsums, ...), which tells what a counter that hooks
only ``nn.Linear``/``nn.Conv`` modules would leave out.

A config whose ``default_scope`` is another OpenMMLab package (mmdet's
Mask2Former, for instance) is built in that scope and fed the same image,
to compare a grounder with its detector counterpart under one convention;
an installed package's config is named as mmengine's ``get_config`` names
it (``mmdet::mask2former/<config>.py``).

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
    parser.add_argument(
        'config',
        help="config file path, or a package's config as "
        "'mmdet::mask2former/<name>.py'",
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
        '--text',
        default='the two men on the left',
        help='the expression fed with the image (default: %(default)r)',
    )
    parser.add_argument(
        '--depth',
        type=int,
        default=1,
        help='levels of submodules below the model in the breakdown '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--by-op',
        action='store_true',
        help='also list the FLOPs of each counted operator',
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


def breakdown(per_module: dict, root: str, depth: int) -> list:
    """(part, FLOPs) rows that partition the FLOPs of ``root``.

    Args:
        per_module (dict): FLOPs of each module that ran as a module, by
            its dotted name from ``root`` (FlopCounterMode's names; an op
            counts for every module running at the time).
        root (str): The model's name.
        depth (int): Levels below ``root`` to split into.

    Returns:
        list[tuple[str, float]]: The parts ``depth`` levels below ``root``
        (or shallower, where a module has no submodules that ran), each
        with its FLOPs, and a ``'<module> (rest)'`` row for the ops that
        ran in a module's forward outside its listed submodules.
    """
    ran = {k: v for k, v in per_module.items() if k.startswith(root)}

    def flops_of(name):
        if name in ran:
            return ran[name]
        # not run as a module: the sum of its outermost submodules that
        # ran (those run one after the other)
        inner = [k for k in ran if k.startswith(name + '.')]
        return sum(
            ran[k]
            for k in inner
            if not any(k.startswith(j + '.') for j in inner if j != k)
        )

    def split(name, level):
        children = sorted(
            {
                name + '.' + k[len(name) + 1 :].split('.')[0]
                for k in ran
                if k.startswith(name + '.')
            }
        )
        if level == depth or not children:
            return [(name, flops_of(name))]
        rows = [row for c in children for row in split(c, level + 1)]
        rest = flops_of(name) - sum(flops_of(c) for c in children)
        if rest > 0:
            rows.append((f'{name} (rest)', rest))
        return rows

    return [row for row in split(root, 0) if row[1] > 0]


def count(model, inputs, samples):
    """FLOPs of one forward in tensor mode: the total, those of each module
    run (by name) and those of each operator (by name)."""
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    # grad mode stays on: under no_grad, a slice of a parameter (RaAM's
    # anchors) is a view that requires grad but has no grad_fn, on which
    # FlopCounterMode's module tracker fails. Only the forward is counted.
    with FlopCounterMode(display=False, depth=2) as counter:
        model(**data, mode='tensor')
    counts = counter.get_flop_counts()
    per_module = {k: sum(v.values()) for k, v in counts.items()}
    per_op = {str(op): n for op, n in counts.get('Global', {}).items()}
    return counter.get_total_flops(), per_module, per_op


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    # 'mmdet::mask2former/...py': a config of an installed package
    if '::' in args.config:
        from mmengine.hub import get_config

        cfg = get_config(args.config)
    else:
        cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = tuple(args.shape) if args.shape else input_shape_from_cfg(cfg)
    # Offline, a hub tokenizer gives way to a stand-in: one request decides
    # that, instead of the hub's retries for each file.
    hub_offline()
    # an mmdet config is built with mmdet's parts, not mmgres' namesakes
    scope = cfg.get('default_scope') or 'mmgres'
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).eval()
    with_text = getattr(model, 'text_encoder', None) is not None
    if with_text:
        ensure_offline_tokenizer(model, [args.text])
    inputs, samples = demo_grounding_inputs(
        batch_size=1, image_shape=shape, texts=[args.text]
    )
    total, per_module, per_op = count(model, inputs, samples)
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}')
    text = f', text: {args.text!r}' if with_text else ''
    print(f'input: {shape[0]}x{shape[1]}{text}')
    print(f'params: {params / 1e6:.2f} M')
    print(f'FLOPs: {format_flops(total)}  (MACs: {format_flops(total / 2)})')
    rows = breakdown(per_module, type(model).__name__, args.depth)
    width = max([40] + [len(name) for name, _ in rows])
    for name, flops in sorted(rows, key=lambda kv: -kv[1]):
        print(f'  {name:<{width}s} {format_flops(flops):>9s}FLOPs')
    if args.by_op:
        print('by operator:')
        for op, flops in sorted(per_op.items(), key=lambda kv: -kv[1]):
            print(f'  {op:<{width}s} {format_flops(flops):>9s}FLOPs')


if __name__ == '__main__':
    main()
