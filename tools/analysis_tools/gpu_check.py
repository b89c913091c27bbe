# Copyright (c) mmgres contributors. All rights reserved.
"""The Python steps of ``tools/analysis_tools/gpu_check.sh``: what a shell
does badly (JSON, tables, configs, the deformable-attention check).

    python tools/analysis_tools/gpu_check.py env --out-json PATH
    python tools/analysis_tools/gpu_check.py configs --dir DIR [--dry-run]
        [--gsva-llm-layers N]
    python tools/analysis_tools/gpu_check.py msda --device {cpu,cuda}
        --out-json PATH [--small]
    python tools/analysis_tools/gpu_check.py record --out DIR --step NAME
        --status STATUS --rc RC --seconds S --limit S --log LOG
        [--result JSON]
    python tools/analysis_tools/gpu_check.py status --out DIR --step NAME
    python tools/analysis_tools/gpu_check.py summary --out DIR

``env`` describes the machine (``nvidia-smi``, torch, CUDA, the OpenMMLab
packages). ``configs`` writes the configs that the model steps run, and
prints ``NAME=PATH`` lines: the full-size configs, built with random weights
and, where the config reads files that the repository does not hold (the
BEiT-3 sentencepiece model, LLaVA's tokenizer and weights, SAM's weights),
stand-ins of the same size; with ``--dry-run`` the tiny configs. ``msda``
checks mmcv's ``MultiScaleDeformableAttention`` on the device against its
PyTorch path on the CPU. ``record`` adds one step's outcome to
``DIR/gpu_check.json`` (so that a run stopped half-way keeps what it
measured), ``status`` prints how a recorded step ended; ``summary`` prints
the tables and writes ``DIR/summary.md``.
Nothing here imports torch or mmgres before a subcommand needs it.
"""

import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys

#: The model steps: (name, label, compared model's label) in run order.
MODELS = (
    ('instalign', 'InstAlign', "mmdet's Mask2Former"),
    ('raam', 'RaAM-RVG', 'RaAM-RVG, direct interaction'),
    ('igvg', 'IGVG', None),
    ('gsva', 'GSVA', None),
)
AMP_DTYPES = ('fp16', 'bf16')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FULL = dict(
    instalign='configs/instalign/instalign_swin-b_bert-base_4xb8-20e_grefcoco.py',
    raam='configs/raam/raam_vit-b_bert-base_2xb8-60e_grefcoco.py',
    raam_direct='configs/raam/ablations/'
    'raam_vit-b_bert-base_2xb8-60e_grefcoco_direct.py',
    igvg='configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco.py',
    gsva='configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py',
)
TINY = dict(
    instalign='configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py',
    raam='configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py',
    igvg='configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py',
    gsva='configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py',
)
#: Vicuna's vocabulary (LLaMA's 32000 ids): the stand-in tokenizer's size,
#: so that GSVA's embeddings and lm_head have their real size.
VICUNA_VOCAB = 32000
#: Ours: GPU memory (GiB) from which GSVA runs with the whole 7B LLM; a
#: random LLaVA-7B is made in fp32 (28 GB) and cast to bf16, and training
#: (LoRA, bf16 weights, activation checkpointing) peaks near 20 GB.
GSVA_7B_MIN_GIB = 40
#: Ours: decoder layers of the shrunk LLM (of Vicuna-7B's 32) below that.
GSVA_SHRUNK_LAYERS = 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Steps of tools/analysis_tools/gpu_check.sh'
    )
    sub = parser.add_subparsers(
        dest='command', required=True, help='the step to run'
    )
    p = sub.add_parser('env', help='describe the machine as JSON')
    p.add_argument('--out-json', required=True, help='where to write it')
    p.add_argument(
        '--ops',
        action='store_true',
        help="also import mmcv's ops for the CUDA version they were built "
        'with',
    )

    p = sub.add_parser('configs', help='write the model steps’ configs')
    p.add_argument('--dir', required=True, help='folder for the configs')
    p.add_argument(
        '--dry-run', action='store_true', help='the tiny configs instead'
    )
    p.add_argument(
        '--gsva-llm-layers',
        type=int,
        default=None,
        help='decoder layers of GSVA’s LLM (default: all 32 of Vicuna-7B '
        f'on a GPU of at least {GSVA_7B_MIN_GIB} GiB, else '
        f'{GSVA_SHRUNK_LAYERS})',
    )

    p = sub.add_parser(
        'msda', help="check mmcv's MultiScaleDeformableAttention"
    )
    p.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        default='cuda',
        help='where the op runs; cpu: a dry run of the step',
    )
    p.add_argument('--out-json', required=True, help='where to write it')
    p.add_argument(
        '--small', action='store_true', help='tiny feature maps (dry run)'
    )

    p = sub.add_parser('record', help="add a step's outcome to the report")
    p.add_argument('--out', required=True, help='the report folder')
    p.add_argument('--step', required=True, help='step name')
    p.add_argument(
        '--status',
        choices=['ok', 'failed', 'timeout', 'skipped'],
        default=None,
        help='how the step ended (needed unless --result-only)',
    )
    p.add_argument('--rc', type=int, default=0, help='its exit code')
    p.add_argument('--seconds', type=float, default=0, help='how long it ran')
    p.add_argument('--limit', type=float, default=0, help='its time limit (s)')
    p.add_argument('--log', default=None, help='its log file')
    p.add_argument('--result', default=None, help='its JSON result file')
    p.add_argument('--note', default=None, help='a one-line remark')
    p.add_argument(
        '--result-only',
        action='store_true',
        help='replace the result of a step already recorded, keeping its '
        'status and times',
    )

    p = sub.add_parser('status', help="print a recorded step's status")
    p.add_argument('--out', required=True, help='the report folder')
    p.add_argument('--step', required=True, help='step name')

    p = sub.add_parser('summary', help='print and write the tables')
    p.add_argument('--out', required=True, help='the report folder')
    return parser.parse_args(argv)


# ----------------------------------------------------------------- env
def _run(cmd):
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=30, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def gpu_from_nvidia_smi():
    """[{name, driver, memory_mib}] of the GPUs nvidia-smi lists, or None
    where there is no nvidia-smi."""
    out = _run(
        [
            'nvidia-smi',
            '--query-gpu=name,driver_version,memory.total',
            '--format=csv,noheader,nounits',
        ]
    )
    if out is None:
        return None
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(',')]
        if len(parts) == 3:
            mem = int(parts[2]) if parts[2].isdigit() else None
            gpus.append(dict(name=parts[0], driver=parts[1], memory_mib=mem))
    return gpus


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def env(args):
    info = dict(python=sys.version.split()[0], gpus=gpu_from_nvidia_smi())
    import torch

    info['torch'] = torch.__version__
    info['torch_cuda'] = torch.version.cuda
    info['cuda_available'] = torch.cuda.is_available()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info['device'] = dict(
            name=props.name,
            capability='%d.%d' % (props.major, props.minor),
            memory_mib=props.total_memory // 2**20,
            multiprocessors=props.multi_processor_count,
        )
    for dist in (
        'mmcv',
        'mmengine',
        'mmdet',
        'mmsegmentation',
        'transformers',
    ):
        info[dist] = _version(dist)
    if args.ops:
        try:
            from mmcv.ops import get_compiling_cuda_version

            info['mmcv_ops_cuda'] = get_compiling_cuda_version()
        except Exception as e:  # noqa: BLE001 (a broken build is a finding)
            info['mmcv_ops_cuda'] = f'unavailable ({type(e).__name__}: {e})'
    _dump(info, args.out_json)
    print(json.dumps(info, indent=1))


# ------------------------------------------------------------- configs
def _stand_in_words(leading=()):
    """Word-level stand-in vocabulary: ``leading`` (a model's own words)
    and the words of the demo expressions, each split as the word-level
    tokenizer splits, then fillers, so that with its 3 special tokens it
    has Vicuna's 32000 entries. Returns (words, number of fillers)."""
    from mmgres.models.tokenizers.word_level import split_words
    from mmgres.testing import DEMO_TEXTS

    pieces = (p for w in (*leading, *DEMO_TEXTS) for p in split_words(w))
    words = list(dict.fromkeys(pieces))
    return words, VICUNA_VOCAB - 3 - len(words)


def gsva_llm_layers(requested):
    """All of Vicuna-7B's layers where the GPU holds them, else a few."""
    if requested is not None:
        return requested
    import torch

    if torch.cuda.is_available():
        gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        if gib >= GSVA_7B_MIN_GIB:
            return None
    return GSVA_SHRUNK_LAYERS


def gsva_config_text(base, layers):
    """GSVA's 7B config with random weights: LLaVA-7B's architecture (or
    its LLM cut to ``layers`` decoder layers), SAM ViT-H's, and a
    word-level tokenizer with Vicuna's vocabulary size."""
    from mmgres.models.mllm import KNOWN_LLAVA_ARCHS
    from mmgres.models.utils import GSVAConversationBuilder

    # the weights' folder is named after the architecture
    arch = osp.basename(_load(base).model.mllm.name_or_path)
    if layers is None:
        model_cfg = repr(arch)
        what = arch
    else:
        cfg = copy.deepcopy(KNOWN_LLAVA_ARCHS[arch])
        cfg['text_config']['num_hidden_layers'] = layers
        model_cfg = repr(cfg)
        what = f'{arch} with {layers} LLM decoder layers'

    # LlavaMLLM puts the dialogue's words first: counted here, so that the
    # vocabulary keeps Vicuna's size
    words, fillers = _stand_in_words(GSVAConversationBuilder().words())
    return (
        f'# {osp.relpath(base, REPO)} with random weights:\n'
        f"# {what}, SAM ViT-H, and a word-level tokenizer of Vicuna's\n"
        '# vocabulary size.\n'
        f'_base_ = [{base!r}]\n'
        'model = dict(\n'
        '    mllm=dict(\n'
        '        pretrained=False,\n'
        f'        model_cfg={model_cfg},\n'
        '        tokenizer=dict(\n'
        "            type='WordLevelTokenizer',\n"
        f'            words={words!r}\n'
        f"            + ['w%d' % i for i in range({fillers})],\n"
        '        ),\n'
        '    ),\n'
        '    mask_head=dict(segmentor=dict(pretrained=False)),\n'
        ')\n'
    )


def igvg_config_text(base):
    """IGVG's config with a WordPiece stand-in for BEiT-3's sentencepiece
    tokenizer (every expression is padded to the same 50 tokens)."""
    words, _ = _stand_in_words()
    return (
        f'# {osp.relpath(base, REPO)} with a stand-in for beit3.spm: the\n'
        '# expressions are padded to max_length tokens either way.\n'
        f'_base_ = [{base!r}]\n'
        'model = dict(\n'
        '    backbone=dict(\n'
        '        tokenizer=dict(\n'
        '            _delete_=True,\n'
        "            type='WordPieceTokenizer',\n"
        f'            vocab={words!r},\n'
        '        )\n'
        '    )\n'
        ')\n'
    )


def raam_direct_config_text(base):
    return (
        f"# {osp.relpath(base, REPO)} with the direct interaction (LAVT's\n"
        '# pixel-word attention), as the full-size ablation config sets it.\n'
        f'_base_ = [{base!r}]\n'
        "model = dict(backbone=dict(interaction='direct'))\n"
    )


def configs(args):
    os.makedirs(args.dir, exist_ok=True)
    paths = {}

    def write(name, text):
        path = osp.join(osp.abspath(args.dir), f'{name}.py')
        with open(path, 'w') as f:
            f.write(text)
        return path

    if args.dry_run:
        paths = {k: osp.join(REPO, v) for k, v in TINY.items()}
        paths['raam_direct'] = write(
            'raam_direct', raam_direct_config_text(paths['raam'])
        )
    else:
        paths = {k: osp.join(REPO, v) for k, v in FULL.items()}
        paths['igvg'] = write('igvg', igvg_config_text(paths['igvg']))
        layers = gsva_llm_layers(args.gsva_llm_layers)
        paths['gsva'] = write('gsva', gsva_config_text(paths['gsva'], layers))
    for name, path in paths.items():
        print(f'{name}={path}')


def _load(path):
    from mmengine.config import Config

    return Config.fromfile(path)


# ---------------------------------------------------------------- msda
def msda_case(attn_ref, attn, inputs, device, dtype, grad):
    """Run ``attn`` (on ``device``, under autocast to ``dtype`` if given)
    against ``attn_ref`` (CPU, fp32): the relative L2 errors
    ``|x - x_ref| / |x_ref|`` of the output and of the gradients of the
    value and the query."""
    import torch

    def run(module, where, autocast):
        x = {k: v.detach().clone().to(where) for k, v in inputs.items()}
        for k in ('query', 'value'):
            x[k].requires_grad_(grad)
        ctx = (
            torch.autocast(where.type, dtype=autocast)
            if autocast is not None
            else torch.autocast(where.type, enabled=False)
        )
        with ctx:
            out = module(
                x['query'],
                value=x['value'],
                reference_points=x['reference_points'],
                spatial_shapes=x['spatial_shapes'],
                level_start_index=x['level_start_index'],
            )
        grads = {}
        if grad:
            upstream = torch.linspace(-1, 1, out.numel()).view(out.shape)
            out.float().mul(upstream.to(where)).sum().backward()
            grads = {k: x[k].grad.float().cpu() for k in ('query', 'value')}
        return out.detach().float().cpu(), grads

    ref_out, ref_grads = run(attn_ref, torch.device('cpu'), None)
    out, grads = run(attn, device, dtype)

    def rel(a, b):  # relative L2 error of a against the reference b
        return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()

    errors = dict(output=rel(out, ref_out))
    for k, g in grads.items():
        errors[f'grad_{k}'] = rel(g, ref_grads[k])
    return errors


#: Tolerances of the relative L2 errors (ours). fp32: the kernel and the
#: PyTorch path sum in other orders, and the linear layers before the op run
#: on other devices. fp16 keeps 11 significant bits, bf16 8. The query's
#: gradient goes through the sampling locations, where bilinear sampling's
#: derivative jumps at pixel borders: in mixed precision it is reported,
#: not judged.
MSDA_TOLERANCE = dict(fp32=1e-4, fp16=5e-3, bf16=4e-2)
MSDA_JUDGED = dict(
    fp32=('output', 'grad_value', 'grad_query'),
    fp16=('output', 'grad_value'),
    bf16=('output', 'grad_value'),
)


def msda(args):
    import torch
    from mmcv.ops import MultiScaleDeformableAttention

    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('msda: torch sees no CUDA device')
    torch.manual_seed(0)
    # Mask2Former's pixel decoder: 256 channels, 8 heads, 3 levels at
    # strides 8, 16, 32 (a 512 x 512 input), 4 points; the queries are the
    # pixels themselves (encoder self-attention).
    sizes = (
        [(8, 8), (4, 4), (2, 2)]
        if args.small
        else [
            (64, 64),
            (32, 32),
            (16, 16),
        ]
    )
    channels, batch = (32, 1) if args.small else (256, 2)
    attn = MultiScaleDeformableAttention(
        embed_dims=channels,
        num_heads=8,
        num_levels=len(sizes),
        num_points=4,
        dropout=0.0,
        batch_first=True,
    ).eval()
    # larger sampling offsets than the init's, so that points fall between
    # pixels and off the map (the bilinear and the border paths)
    with torch.no_grad():
        attn.sampling_offsets.weight.normal_(0, 0.5)
    shapes = torch.tensor(sizes, dtype=torch.long)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    n = int(shapes.prod(1).sum())
    ref = torch.rand(batch, n, 1, 2).expand(batch, n, len(sizes), 2)
    inputs = dict(
        query=torch.randn(batch, n, channels),
        value=torch.randn(batch, n, channels),
        reference_points=ref.contiguous(),
        spatial_shapes=shapes,
        level_start_index=starts,
    )
    attn_dev = copy.deepcopy(attn).to(device)
    report = dict(
        device=args.device,
        sizes=sizes,
        channels=channels,
        batch=batch,
        reference='MultiScaleDeformableAttention on the CPU (its PyTorch '
        'path, grid_sample), fp32',
        path=(
            "mmcv's CUDA kernel (MultiScaleDeformableAttnFunction)"
            if device.type == 'cuda'
            else 'the same PyTorch path (dry run)'
        ),
        cases={},
    )
    ok = True
    for name, dtype in (
        ('fp32', None),
        ('fp16', torch.float16),
        ('bf16', torch.bfloat16),
    ):
        case = dict(dtype=name)
        try:
            errors = msda_case(attn, attn_dev, inputs, device, dtype, True)
            tol = MSDA_TOLERANCE[name]
            case.update(errors)
            case['tolerance'] = tol
            case['judged'] = list(MSDA_JUDGED[name])
            case['ok'] = all(errors[k] <= tol for k in MSDA_JUDGED[name])
        except Exception as e:  # noqa: BLE001 (a dtype the kernel lacks)
            case.update(ok=False, error=f'{type(e).__name__}: {e}')
        ok &= case['ok']
        report['cases'][name] = case
        if 'error' in case:
            print(f'msda {name}: {case["error"]}')
        else:
            verdict = 'ok' if case['ok'] else 'NOT within tolerance'
            print(
                f'msda {name}: relative error output {case["output"]:.2g}, '
                f'grad value {case["grad_value"]:.2g}, grad query '
                f'{case["grad_query"]:.2g} (tolerance {tol:g}): {verdict}'
            )
    report['ok'] = ok
    _dump(report, args.out_json)
    # fp32 must match; a mixed-precision failure is reported, not fatal
    if not report['cases']['fp32']['ok']:
        raise SystemExit(1)


# -------------------------------------------------------- record/summary
def _dump(obj, path):
    d = osp.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def _report_path(out):
    return osp.join(out, 'gpu_check.json')


def _read_report(out):
    path = _report_path(out)
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    return dict(steps={})


def _tail(path, lines=40):
    if not path or not osp.isfile(path):
        return None
    with open(path, errors='replace') as f:
        return ''.join(f.readlines()[-lines:])


def _load_json(path):
    try:
        with open(path) as f:
            return json.load(f), None
    except ValueError as e:
        return None, str(e)


def record(args):
    report = _read_report(args.out)
    if args.result_only:
        step = report['steps'].get(args.step)
        if step is not None and args.result and osp.isfile(args.result):
            step['result'], _ = _load_json(args.result)
            _dump(report, _report_path(args.out))
        return
    if args.status is None:
        raise SystemExit('record: --status is needed')
    step = dict(
        status=args.status,
        rc=args.rc,
        seconds=round(args.seconds, 1),
        limit=args.limit,
    )
    if args.note:
        step['note'] = args.note
    if args.result and osp.isfile(args.result):
        result, error = _load_json(args.result)
        if error is None:
            step['result'] = result
        else:
            step['result_error'] = error
    if args.status != 'ok':
        step['log_tail'] = _tail(args.log)
    report['steps'][args.step] = step
    _dump(report, _report_path(args.out))


def status(args):
    step = _read_report(args.out)['steps'].get(args.step)
    print('missing' if step is None else step['status'])


def _fmt(value, spec):
    return 'n/a' if value is None else format(value, spec)


def _gpu_line(report):
    env = report['steps'].get('env', {}).get('result') or {}
    gpus = env.get('gpus')
    if gpus:
        gpu = gpus[0]
        head = (
            f'GPU: {gpu["name"]} (nvidia-smi; driver {gpu["driver"]}, '
            f'{gpu["memory_mib"]} MiB)'
        )
    else:
        head = 'GPU: none (nvidia-smi not found)'
    parts = [head]
    for key in ('torch', 'torch_cuda', 'mmcv', 'mmcv_ops_cuda'):
        if key in env:
            parts.append(f'{key} {env[key]}')
    return '; '.join(parts)


def model_rows(report):
    """One row per model measured: (step, amp, label, the benchmark's
    model dict), and one per ratio: (step, amp, pair, ratios)."""
    rows, ratios = [], []
    for name, label, other in MODELS:
        for amp in AMP_DTYPES:
            step = f'{name}_{amp}'
            result = report['steps'].get(step, {}).get('result')
            if not result:
                continue
            labels = [label, other or 'compared']
            for model, text in zip(result['models'], labels):
                rows.append((step, amp, text, model))
            for ratio in result.get('ratios', {}).values():
                ratios.append((step, amp, f'{label} / {other}', ratio))
    return rows, ratios


def summary_text(report):
    lines = [_gpu_line(report), '']
    lines += [
        '| step | status | seconds | limit | note |',
        '| --- | --- | ---: | ---: | --- |',
    ]
    for name, step in report['steps'].items():
        note = step.get('note') or ''
        if name == 'msda' and step.get('result'):
            cases = step['result']['cases']
            note = ', '.join(
                f'{k} ' + ('ok' if c['ok'] else 'FAILED')
                for k, c in cases.items()
            )
        lines.append(
            f'| {name} | {step["status"]} | {step["seconds"]:.0f} | '
            f'{step["limit"]:.0f} | {note} |'
        )
    rows, ratios = model_rows(report)
    if rows:
        lines += [
            '',
            '| model | amp | params (M) | inference img/s | inference peak '
            '(MiB) | training img/s | training peak (MiB) |',
            '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
        ]
        for _, amp, label, m in rows:
            inf, trn = m['infer'], m['train']
            lines.append(
                f'| {label} | {amp} | {m["params_m"]:.1f} | '
                f'{inf["img_per_s"]:.2f} | {_fmt(inf["peak_mem_mib"], ".0f")}'
                f' | {trn["img_per_s"]:.2f} | '
                f'{_fmt(trn["peak_mem_mib"], ".0f")} |'
            )
    if ratios:
        lines += [
            '',
            '| ratio (time, peak memory) | amp | inference time | training '
            'time | inference memory | training memory |',
            '| --- | --- | ---: | ---: | ---: | ---: |',
        ]
        for _, amp, pair, r in ratios:
            lines.append(
                f'| {pair} | {amp} | {_fmt(r["infer_time"], ".2f")} | '
                f'{_fmt(r["train_time"], ".2f")} | '
                f'{_fmt(r["infer_mem"], ".2f")} | '
                f'{_fmt(r["train_mem"], ".2f")} |'
            )
    return '\n'.join(lines) + '\n'


def summary(args):
    report = _read_report(args.out)
    text = summary_text(report)
    with open(osp.join(args.out, 'summary.md'), 'w') as f:
        f.write(text)
    print(text)


def main(argv=None):
    args = parse_args(argv)
    dict(
        env=env,
        configs=configs,
        msda=msda,
        record=record,
        status=status,
        summary=summary,
    )[args.command](args)


if __name__ == '__main__':
    main()
