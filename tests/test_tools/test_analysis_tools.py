"""get_flops.py (its units, and without a network) and benchmark.py on the
tiny InstAlign, in-process, and eval_predictions.py --group-by-kind on the
tiny gRefCOCO of test_browse_eval.py."""

import importlib
import json
import os.path as osp
import re
import runpy
import sys
import time

import mmengine
import pytest

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


@pytest.fixture(autouse=True)
def _restore_hub_state(monkeypatch):
    """get_flops and benchmark may switch huggingface_hub to offline mode
    for the rest of the process; other tests get it back as it was."""
    from huggingface_hub import constants

    from mmgres.utils import hub

    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', constants.HF_HUB_OFFLINE)
    monkeypatch.setattr(hub, '_unreachable', hub._unreachable)


def _main(module, argv, monkeypatch):
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        mod = __import__(module)
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(sys, 'argv', [module + '.py', *argv])
    mod.main()


UNITS = dict(K=1e3, M=1e6, G=1e9, T=1e12)


def _count(name, out):
    value, unit = re.search(name + r': ([0-9.]+) ([KMGT])\b', out).groups()
    return float(value) * UNITS[unit]


def _flops(capsys, monkeypatch, size):
    _main('get_flops', [CONFIG, '--shape', str(size), str(size)], monkeypatch)
    out = capsys.readouterr().out
    params = float(re.search(r'params: ([0-9.]+) M', out).group(1))
    return params, _count('FLOPs', out), _count('MACs', out), out


def test_get_flops_scales_with_input(capsys, monkeypatch):
    p1, f1, m1, out = _flops(capsys, monkeypatch, 64)
    p2, f2, _, _ = _flops(capsys, monkeypatch, 128)
    assert p1 == p2 == pytest.approx(1.52, abs=0.01)
    assert 0 < f1 < f2
    assert m1 == pytest.approx(f1 / 2, rel=1e-3)
    # a tiny model's count is in G or M, not a fraction of a T
    assert re.search(r'FLOPs: [1-9][0-9.]* [GM] ', out), out
    assert re.search(r'backbone +[1-9][0-9.]* [GMK]FLOPs', out), out


@pytest.mark.parametrize(
    'flops, text',
    [
        (2.35e11, '235 G'),
        (1.5e12, '1.5 T'),
        (3.14159e9, '3.142 G'),
        (123456789, '123.5 M'),
        (2.0e5, '200 K'),
        (512, '0.512 K'),
        (0, '0 K'),
        # rounding to 4 digits reaches the next unit
        (999.97e9, '1 T'),
    ],
)
def test_format_flops(flops, text):
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        import get_flops
    finally:
        sys.path.pop(0)
    assert get_flops.format_flops(flops) == text


def test_get_flops_breakdown_partitions_the_total():
    """FlopCounterMode counts an op for every module running at the time;
    here 'M.b' ran only through its layers (as mmdet's Mask2FormerHead runs
    ``transformer_decoder.layers[i]``), and 10 FLOPs ran in M's own
    forward, outside any submodule."""
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        import get_flops
    finally:
        sys.path.pop(0)
    counts = {
        'Global': 100,
        'M': 100,
        'M.a': 60,
        'M.a.x': 50,
        'M.b.l.0': 10,
        'M.b.l.1': 20,
    }
    rows = get_flops.breakdown(counts, 'M', 1)
    assert sorted(rows) == [('M (rest)', 10), ('M.a', 60), ('M.b', 30)]
    rows = get_flops.breakdown(counts, 'M', 2)
    assert sorted(rows) == [
        ('M (rest)', 10),
        ('M.a (rest)', 10),
        ('M.a.x', 50),
        ('M.b.l', 30),
    ]
    # a part with no submodule that ran stays whole
    rows = get_flops.breakdown(counts, 'M', 3)
    assert sorted(rows) == [
        ('M (rest)', 10),
        ('M.a (rest)', 10),
        ('M.a.x', 50),
        ('M.b.l.0', 10),
        ('M.b.l.1', 20),
    ]


def _rows(text):
    """{name: FLOPs} of the lines '  NAME  VALUE UNITFLOPs'."""
    return {
        name: float(value) * UNITS[unit]
        for name, value, unit in re.findall(
            r'^  (\S+(?: \(rest\))?) +([0-9.]+) ([KMGT])FLOPs$', text, re.M
        )
    }


def test_get_flops_counts_an_mmdet_config(capsys, monkeypatch):
    """mmdet's Mask2Former, named as mmengine's get_config names it, built
    in mmdet's scope: 44.0 M parameters as the Mask2Former paper's R50
    (Table 1). What runs in the body of its head's forward is the mask
    einsum: 10 predictions (the learnable queries' and the 9 layers') x
    100 queries x 256 channels x (64 / 4)^2 pixels x 2 = 131.1 MFLOPs."""
    config = 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py'
    argv = [config, '--shape', '64', '64', '--depth', '2', '--by-op']
    _main('get_flops', argv, monkeypatch)
    out = capsys.readouterr().out
    assert 'params: 44.02 M' in out
    assert 'text:' not in out  # no expression is fed to a detector
    parts, ops = out.split('by operator:')
    parts, ops, total = _rows(parts), _rows(ops), _count('FLOPs', out)
    einsum = 2 * 10 * 100 * 256 * (64 // 4) ** 2
    assert parts['Mask2Former (rest)'] == pytest.approx(einsum, rel=5e-4)
    assert 'Mask2Former.panoptic_head.pixel_decoder' in parts
    assert 'Mask2Former.panoptic_head.transformer_decoder' in parts
    # the parts, and the operators, partition the total (4 digits each)
    assert sum(parts.values()) == pytest.approx(total, rel=2e-3)
    assert sum(ops.values()) == pytest.approx(total, rel=2e-3)


@pytest.fixture
def no_network(monkeypatch):
    """Every HTTP request of huggingface_hub fails to connect, and is
    recorded; the hub's retry back-off does not sleep. The hub's offline
    state is restored after the test."""
    import huggingface_hub
    from huggingface_hub import constants

    from mmgres.utils import hub

    for name in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    monkeypatch.setattr(hub, '_unreachable', None)
    session = huggingface_hub.get_session()
    httpx = importlib.import_module(type(session).__module__.split('.')[0])
    requests = []

    def refuse(self, request):
        requests.append(str(request.url))
        raise httpx.ConnectError('no network', request=request)

    monkeypatch.setattr(httpx.HTTPTransport, 'handle_request', refuse)
    monkeypatch.setattr(time, 'sleep', lambda seconds: None)
    return requests


# the tiny config with a hub tokenizer instead of its in-memory word list
HUB_TOKENIZER = [
    '--cfg-options',
    'model.text_encoder.tokenizer.type=AutoTokenizer',
    'model.text_encoder.tokenizer.name_or_path=bert-base-uncased',
]


def test_get_flops_offline_tries_the_hub_once(no_network, capsys, monkeypatch):
    _main('get_flops', [CONFIG, *HUB_TOKENIZER], monkeypatch)
    assert len(no_network) == 1, no_network
    out = capsys.readouterr().out
    assert re.search(r'FLOPs: [0-9.]+ [KMGT] ', out), out

    # remembered: the hub is not asked again in this process
    _main('get_flops', [CONFIG, *HUB_TOKENIZER], monkeypatch)
    assert len(no_network) == 1, no_network


def test_get_flops_hf_hub_offline_makes_no_request(
    no_network, capsys, monkeypatch
):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    _main('get_flops', [CONFIG, *HUB_TOKENIZER], monkeypatch)
    assert no_network == []
    assert re.search(r'FLOPs: [0-9.]+ [KMGT] ', capsys.readouterr().out)


def test_benchmark_compares_with_mask2former(capsys, monkeypatch):
    _main(
        'benchmark',
        [
            CONFIG,
            '--compare-mask2former',
            '--batch-size',
            '2',
            '--shape',
            '64',
            '64',
            '--warmup',
            '0',
            '--iters',
            '1',
        ],
        monkeypatch,
    )
    out = capsys.readouterr().out
    assert re.search(r'grounder .* img/s .* iter/s', out)
    assert re.search(r'Mask2Former .* img/s .* iter/s', out)
    ratios = re.search(r'inference ([0-9.]+)x, training ([0-9.]+)x', out)
    assert ratios and float(ratios.group(1)) > 0


def _benchmark_module():
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        import benchmark
    finally:
        sys.path.pop(0)
    return benchmark


def test_benchmark_bf16_autocast_on_cpu_and_its_json(tmp_path, monkeypatch):
    """--amp-dtype bf16 on the CPU: the linear layers of both steps run in
    bf16 (torch.autocast), the training step uses the config's optimizer
    in mmgres' CPUAutocastOptimWrapper
    (instalign_tiny_cpu.py: AdamW, lr 5e-4, clipping at norm 1), and the
    JSON holds every timing and the memory fields. The optimizer state that
    training adds to the model's own memory is AdamW's: two fp32 moments
    per trainable weight and a 4-byte step counter per tensor."""
    import torch

    dtypes = set()

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear) and torch.is_tensor(output):
            dtypes.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    out_json = tmp_path / 'bench.json'
    try:
        _main(
            'benchmark',
            [
                CONFIG,
                '--device',
                'cpu',
                '--amp-dtype',
                'bf16',
                '--shape',
                '64',
                '64',
                '--warmup',
                '1',
                '--iters',
                '2',
                '--out-json',
                str(out_json),
            ],
            monkeypatch,
        )
    finally:
        handle.remove()
    assert torch.bfloat16 in dtypes
    got = json.loads(out_json.read_text())
    assert (got['device'], got['amp'], got['shape']) == (
        'cpu',
        'bf16',
        [64, 64],
    )
    assert got['batch_size'] == 2 and got['ratios'] == {}
    (model,) = got['models']
    assert model['name'] == 'grounder'
    assert model['optim'] == dict(
        wrapper='CPUAutocastOptimWrapper',  # as tools/train.py --amp
        optimizer='AdamW',
        lr=[5e-4],
        clip_grad=dict(max_norm=1.0, norm_type=2),
    )
    for phase in ('infer', 'train'):
        m = model[phase]
        assert len(m['times_s']) == 2
        assert m['median_s'] == max(m['times_s'])  # the upper median of 2
        assert m['img_per_s'] == pytest.approx(2 / m['median_s'])
        assert m['peak_mem_mib'] is None or (
            m['peak_mem_mib'] >= m['model_mem_mib']
        )
    assert model['train']['iter_per_s'] == pytest.approx(
        1 / model['train']['median_s']
    )
    # the model alone: its parameters (1.52 M, fp32) and buffers
    assert model['infer']['model_mem_mib'] >= 4 * 1_523_182 / 2**20
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS

    with DefaultScope.overwrite_default_scope('mmgres'):
        built = MODELS.build(Config.fromfile(CONFIG).model)
    trainable = [p for p in built.parameters() if p.requires_grad]
    assert model['trainable_params_m'] == pytest.approx(
        sum(p.numel() for p in trainable) / 1e6
    )
    adamw = sum(2 * 4 * p.numel() + 4 for p in trainable)
    added = model['train']['model_mem_mib'] - model['infer']['model_mem_mib']
    assert added * 2**20 == pytest.approx(adamw, abs=1)


def test_benchmark_without_amp_stays_fp32(tmp_path, monkeypatch):
    import torch

    dtypes = set()

    def hook(module, args, output):
        if isinstance(module, torch.nn.Linear) and torch.is_tensor(output):
            dtypes.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        argv = [CONFIG, '--device', 'cpu', '--shape', '64', '64']
        argv += ['--warmup', '0', '--iters', '1']
        _main('benchmark', argv, monkeypatch)
    finally:
        handle.remove()
    assert dtypes == {torch.float32}


RAAM_TINY = 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py'


def test_benchmark_compare_config_raam_with_direct(tmp_path, monkeypatch):
    """--compare-config: RaAM-RVG's tiny config beside the same model with
    the direct interaction, in one run: the second model is the other
    config's (LAVT's pixel-word attention has fewer parameters than RaAM's
    anchors), and the ratios are the first model's over the second's."""
    direct = tmp_path / 'raam_tiny_direct.py'
    direct.write_text(
        f"_base_ = ['{osp.abspath(RAAM_TINY)}']\n"
        "model = dict(backbone=dict(interaction='direct'))\n"
    )
    out_json = tmp_path / 'bench.json'
    argv = [RAAM_TINY, '--compare-config', str(direct), '--device', 'cpu']
    argv += ['--warmup', '0', '--iters', '1', '--out-json', str(out_json)]
    _main('benchmark', argv, monkeypatch)
    got = json.loads(out_json.read_text())
    assert got['compare_config'] == str(direct)
    raam, other = got['models']
    assert (raam['name'], other['name']) == ('grounder', 'compared')
    assert (raam['config'], other['config']) == (RAAM_TINY, str(direct))
    assert raam['params_m'] > other['params_m']
    ratio = got['ratios']['compared']
    assert ratio['infer_time'] == pytest.approx(
        raam['infer']['median_s'] / other['infer']['median_s']
    )
    assert ratio['train_time'] == pytest.approx(
        raam['train']['median_s'] / other['train']['median_s']
    )


def test_benchmark_optim_wrapper_of_one_process():
    """GSVA's 7B configs train through DeepSpeed (ZeRO-2) or FSDP with
    gradient accumulation 10: benchmark.py steps the same optimizer once
    per call, in a plain OptimWrapper, or in mmengine's AmpOptimWrapper with
    --amp on CUDA."""
    import torch
    from mmengine.config import Config

    bench = _benchmark_module()
    deepspeed = Config.fromfile(
        'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'
    )
    fsdp = Config.fromfile(
        'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_fsdp.py'
    )
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    ow = bench.optim_wrapper_cfg(deepspeed, cpu, None)
    assert ow.type == 'OptimWrapper'
    assert (ow.optimizer.type, ow.optimizer.lr) == ('AdamW', 1e-4)
    ow = bench.optim_wrapper_cfg(deepspeed, cpu, 'bf16')
    assert (ow.type, ow.dtype) == ('CPUAutocastOptimWrapper', 'bfloat16')
    ow = bench.optim_wrapper_cfg(deepspeed, cpu, 'fp16')
    assert ow.type == 'OptimWrapper' and 'dtype' not in ow
    ow = bench.optim_wrapper_cfg(deepspeed, cuda, 'bf16')
    assert (ow.type, ow.dtype) == ('AmpOptimWrapper', 'bfloat16')
    ow = bench.optim_wrapper_cfg(fsdp, cuda, 'fp16')
    assert (ow.type, ow.dtype) == ('AmpOptimWrapper', 'float16')
    assert 'accumulative_counts' not in ow
    assert ow.clip_grad.max_norm == 1.0
    ow = bench.optim_wrapper_cfg(fsdp, cuda, None)
    assert ow.type == 'OptimWrapper' and 'dtype' not in ow
    # the config itself is left as it is
    assert fsdp.optim_wrapper.accumulative_counts == 10


def test_benchmark_rss_memory_sees_a_64_mib_tensor():
    import torch

    bench = _benchmark_module()
    meter = bench.RssMemory()
    if not meter.available:
        pytest.skip('/proc/self/clear_refs cannot be written here')
    meter.start()
    x = torch.ones(16 * 2**20)  # 64 MiB, every page written
    growth = meter.stop()
    del x
    assert 63 * 2**20 <= growth < 100 * 2**20


# ----------------------------------------------------------------------
# eval_predictions.py --group-by-kind
# ----------------------------------------------------------------------
def _eval_tools():
    """The gRefCOCO fixture writers and the eval_predictions module."""
    import test_browse_eval as tbe

    sys.path.insert(0, osp.dirname(tbe.EVAL))
    try:
        import eval_predictions
    finally:
        sys.path.pop(0)
    return tbe, eval_predictions


def _write_scenes(path, kinds, extra=()):
    """A scenes.json: one image per sentence, ``kinds`` = {sent_id: kind}."""
    images = [
        dict(
            image_id=i,
            file_name=f'img{i}.jpg',
            split='val',
            objects=[],
            sentences=[dict(sent_id=sent_id, ref_id=sent_id, kind=kind)],
        )
        for i, (sent_id, kind) in enumerate([*kinds.items(), *extra])
    ]
    path.write_text(json.dumps(dict(images=images)))
    return str(path)


# the five samples of test_browse_eval.write_predictions (sent_id 100 + i)
# get these kinds; 'count' (sent_id 999) has no sample
KINDS = {
    100: 'attribute',  # s1: IoU 8/10, TN
    101: 'relation',  # s2: IoU 5/15, TN
    102: 'neg_attribute',  # s3: no-target GT, predicted no target (TP)
    103: 'neg_attribute',  # s4: no-target GT, 5 px predicted (FN)
    104: 'relation',  # s5: GT 10 px, predicted no target (FP), I=4, U=10
}


def test_group_by_kind_order_and_unknown_sent_id(tmp_path):
    _, ep = _eval_tools()
    scenes = _write_scenes(tmp_path / 'scenes.json', KINDS, [(999, 'count')])
    preds = [dict(sent_id=s, n=i) for i, s in enumerate(KINDS)]
    groups = ep.group_by_kind(preds, scenes)
    # most samples first, ties by name; no empty 'count' group
    assert list(groups) == ['neg_attribute', 'relation', 'attribute']
    assert [p['n'] for p in groups['relation']] == [1, 4]
    assert [p['n'] for p in groups['neg_attribute']] == [2, 3]
    assert [p['n'] for p in groups['attribute']] == [0]

    with pytest.raises(SystemExit, match=r'sent_id 555 is not in .*scenes'):
        ep.group_by_kind([*preds, dict(sent_id=555)], scenes)
    with pytest.raises(SystemExit, match='Sample 0 has no sent_id'):
        ep.group_by_kind([dict(img_id=1)], scenes)
    clash = _write_scenes(tmp_path / 'clash.json', KINDS, [(100, 'relation')])
    with pytest.raises(SystemExit, match='sent_id 100 .* two kinds'):
        ep.group_by_kind(preds, clash)


def test_eval_predictions_by_kind_known_values(tmp_path, monkeypatch, capsys):
    tbe, _ = _eval_tools()
    root = str(tmp_path / 'grefcoco')
    tbe.write_grefcoco(root)
    config = tmp_path / 'tiny_grefcoco.py'
    config.write_text(tbe.CONFIG.format(root=root))
    preds = str(tmp_path / 'preds.pkl')
    tbe.write_predictions(preds)
    scenes = _write_scenes(tmp_path / 'scenes.json', KINDS, [(999, 'count')])
    out_json = str(tmp_path / 'metrics.json')
    args = [str(config), preds, '--group-by-kind', scenes]
    code = tbe.run_script(
        tbe.EVAL, [*args, '--out-json', out_json], monkeypatch
    )
    assert code == 0
    printed = capsys.readouterr().out
    # the overall metrics are unchanged by the breakdown
    assert 'gres/cIoU: 32.5000' in printed
    got = mmengine.load(out_json)
    assert got['gres/cIoU'] == pytest.approx(32.5)

    nan = float('nan')
    expected = {
        # s3 (IoU 1, adds nothing to I/U) and s4 (IoU 0, U += 5 px)
        'neg_attribute': dict(
            samples=2,
            gIoU=50.0,
            cIoU=0.0,
            N_acc=50.0,
            T_acc=nan,
            Pr07=nan,
        ),
        # s2 (I 5, U 15) and s5 (IoU 0, I += 0, U += 10)
        'relation': dict(
            samples=2,
            gIoU=100 / 6,
            cIoU=100 * 5 / 25,
            N_acc=nan,
            T_acc=50.0,
            Pr07=0.0,
        ),
        # s1 (I 8, U 10)
        'attribute': dict(
            samples=1,
            gIoU=80.0,
            cIoU=80.0,
            N_acc=nan,
            T_acc=100.0,
            Pr07=100.0,
        ),
    }
    assert list(got['by_kind']) == list(expected)
    for kind, values in expected.items():
        row = got['by_kind'][kind]
        assert row['samples'] == values['samples'], kind
        for name, value in values.items():
            if name == 'samples':
                continue
            key = 'gres/Pr@0.7' if name == 'Pr07' else f'gres/{name}'
            assert row[key] == pytest.approx(value, abs=1e-3, nan_ok=True), (
                kind,
                key,
            )
    # the table: a header with every metric, then one row per kind in
    # the same order
    table = printed.split('By expression kind')[1].splitlines()
    header = table[1].split()
    assert header[:6] == [
        'kind',
        'samples',
        'gres/gIoU',
        'gres/cIoU',
        'gres/N_acc',
        'gres/T_acc',
    ]
    rows = [line.split() for line in table[3:6]]
    assert [r[:2] for r in rows] == [
        ['neg_attribute', '2'],
        ['relation', '2'],
        ['attribute', '1'],
    ]
    assert rows[1][2:6] == ['16.6667', '20.0000', 'nan', '50.0000']
    assert rows[0][2:6] == ['50.0000', '0.0000', '50.0000', 'nan']

    # a sent_id missing from scenes.json stops before any scoring
    partial = _write_scenes(
        tmp_path / 'partial.json', {k: KINDS[k] for k in (100, 101, 102)}
    )
    with pytest.raises(SystemExit, match=r'sent_id 103 is not in .*partial'):
        monkeypatch.setattr(
            sys,
            'argv',
            [tbe.EVAL, str(config), preds, '--group-by-kind', partial],
        )
        runpy.run_path(tbe.EVAL, run_name='__main__')
    assert 'Evaluated' not in capsys.readouterr().out
