"""tools/analysis_tools/gpu_check.sh and its helper gpu_check.py on a CPU.

The script's ``--dry-run`` runs its steps at the smallest size (tiny
configs, one iteration, autocast on the CPU); here it runs one model step
(RaAM-RVG beside its direct-interaction variant) and the steps that every
run has, and the helper's pieces are checked in-process: the report and its
tables, the deformable-attention check, the configs with stand-ins. The
dry run of every step takes about 100 s of CPU: set
``MMGRES_TEST_GPU_CHECK_DRY_RUN=1`` to run it too.
"""

import io
import json
import os
import os.path as osp
import subprocess
import sys
import tarfile

import pytest
from tool_utils import REPO

SCRIPT = osp.join(REPO, 'tools', 'analysis_tools', 'gpu_check.sh')
MSDA_SOURCE = 'mmcv-2.1.0/mmcv/ops/csrc/pytorch/cuda/ms_deform_attn_cuda.cu'


def _helper():
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    return gpu_check


def _fake_sdist(path, members=(MSDA_SOURCE,)):
    with tarfile.open(path, 'w:gz') as tar:
        for name in members:
            info = tarfile.TarInfo(name)
            info.size = 0
            tar.addfile(info, io.BytesIO(b''))
    return str(path)


def _run(tmp_path, *args, sdist=None):
    env = dict(
        os.environ,
        MMGRES_PYTHON=sys.executable,
        MMGRES_CACHE=str(tmp_path / 'cache'),
        MMCV_SDIST=sdist or '',
        OMP_NUM_THREADS='1',
    )
    env.pop('OUT', None)
    out = tmp_path / 'out'
    proc = subprocess.run(
        ['bash', SCRIPT, '--dry-run', '--out', str(out), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = out / 'gpu_check.json'
    got = json.loads(report.read_text()) if report.is_file() else None
    return proc, out, got


def _check_raam_step(step, out):
    assert step['status'] == 'ok', step
    result = step['result']
    assert (result['device'], result['amp'], result['iters']) == (
        'cpu',
        'bf16',
        1,
    )
    assert result['config'].endswith('raam_tiny_1xb8-8e_synthetic-grefcoco.py')
    assert result['compare_config'] == str(
        out / '.work' / 'configs' / 'raam_direct.py'
    )
    names = [m['name'] for m in result['models']]
    assert names == ['grounder', 'compared']


def test_dry_run_one_model_step(tmp_path):
    sdist = _fake_sdist(tmp_path / 'mmcv-2.1.0.tar.gz')
    proc, out, got = _run(tmp_path, '--only', 'raam_bf16', sdist=sdist)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # env, setup, mmcv and configs always run; msda was not asked for
    assert list(got['steps']) == [
        'env',
        'setup',
        'mmcv',
        'configs',
        'raam_bf16',
    ]
    assert all(s['status'] == 'ok' for s in got['steps'].values()), got
    env = got['steps']['env']['result']
    assert env['cuda_available'] is False and env['mmcv'] == '2.1.0'
    _check_raam_step(got['steps']['raam_bf16'], out)
    log = (out / 'gpu_check.log').read_text()
    assert 'MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0' in log
    assert sdist in log
    summary = (out / 'summary.md').read_text()
    assert summary.startswith('GPU: none (nvidia-smi not found)')
    assert '| RaAM-RVG / RaAM-RVG, direct interaction | bf16 |' in summary
    assert '| RaAM-RVG, direct interaction | bf16 | 0.7 |' in summary
    assert summary in proc.stdout
    # what comes back from a GPU machine: at most 8 files in $OUT
    files = sorted(p.name for p in out.iterdir() if p.name[0] != '.')
    assert files == ['gpu_check.json', 'gpu_check.log', 'summary.md']


def _mmcv_step(tmp_path, sdist):
    """The script's mmcv step alone, as a dry run."""
    env = dict(
        os.environ,
        DRY='1',
        PY=sys.executable,
        SITE=str(tmp_path / 'site'),
        MMGRES_CACHE=str(tmp_path / 'cache'),
        MMCV_SDIST=sdist,
    )
    return subprocess.run(
        ['bash', SCRIPT, '--internal-step', 'mmcv'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_mmcv_step_without_sdist_skips_with_a_message(tmp_path):
    proc = _mmcv_step(tmp_path, '')
    assert proc.returncode == 2  # skipped
    assert proc.stdout.startswith('SKIPPED: no mmcv 2.1.0 sdist')
    assert '--prepare' in proc.stdout


def test_mmcv_step_rejects_another_tarball(tmp_path):
    sdist = _fake_sdist(tmp_path / 'other.tar.gz', ['other-1.0/setup.py'])
    proc = _mmcv_step(tmp_path, sdist)
    assert proc.returncode == 1
    assert 'holds no mmcv 2.1.0 source' in proc.stdout


def test_spent_budget_skips_every_step_and_writes_the_summary(tmp_path):
    proc, out, got = _run(tmp_path, '--budget', '0')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(got['steps']) == 13  # env setup mmcv msda configs + 8 models
    for step in got['steps'].values():
        assert step['status'] == 'skipped'
        assert step['note'] == 'no time left in --budget 0 s'
    assert (out / 'summary.md').read_text().startswith('GPU: none')


def test_unknown_argument(tmp_path):
    proc = subprocess.run(
        ['bash', SCRIPT, '--no-such-option'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert 'unknown argument: --no-such-option' in proc.stderr
    usage = subprocess.run(
        ['bash', SCRIPT, '--help'], capture_output=True, text=True
    ).stdout
    assert usage.startswith('One check of mmgres on a CUDA GPU')
    assert '--dry-run' in usage and 'set -uo' not in usage


@pytest.mark.skipif(
    os.environ.get('MMGRES_TEST_GPU_CHECK_DRY_RUN') != '1',
    reason='about 100 s of CPU; MMGRES_TEST_GPU_CHECK_DRY_RUN=1 runs it',
)
def test_dry_run_every_step(tmp_path):
    sdist = _fake_sdist(tmp_path / 'mmcv-2.1.0.tar.gz')
    proc, out, got = _run(tmp_path, sdist=sdist)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    models = [
        f'{m}_{a}'
        for m in ('instalign', 'raam', 'igvg', 'gsva')
        for a in ('fp16', 'bf16')
    ]
    steps = ['env', 'setup', 'mmcv', 'msda', 'configs', *models]
    assert list(got['steps']) == steps
    assert all(s['status'] == 'ok' for s in got['steps'].values()), got
    assert got['steps']['msda']['result']['ok']
    _check_raam_step(got['steps']['raam_bf16'], out)
    instalign = got['steps']['instalign_fp16']['result']
    assert [m['name'] for m in instalign['models']] == [
        'grounder',
        'Mask2Former',
    ]
    summary = (out / 'summary.md').read_text()
    for label in ('InstAlign', "mmdet's Mask2Former", 'IGVG', 'GSVA'):
        for amp in ('fp16', 'bf16'):
            assert f'| {label} | {amp} |' in summary


# ------------------------------------------------------------------ helper
def _bench_result(first, second, ratios):
    def model(name, infer_s, train_s, infer_mib, train_mib):
        return dict(
            name=name,
            params_m=10.0,
            infer=dict(
                median_s=infer_s, img_per_s=2 / infer_s, peak_mem_mib=infer_mib
            ),
            train=dict(
                median_s=train_s, img_per_s=2 / train_s, peak_mem_mib=train_mib
            ),
        )

    return dict(models=[model(*first), model(*second)], ratios=ratios)


def test_record_and_summary_tables(tmp_path):
    gpu_check = _helper()
    work = tmp_path / 'work'
    work.mkdir()
    env = dict(
        gpus=[
            dict(name='NVIDIA H100 80GB HBM3', driver='580', memory_mib=81559)
        ],
        torch='2.11.0+cu130',
    )
    (work / 'env.json').write_text(json.dumps(env))
    # InstAlign 0.5 s / 1 s per step, Mask2Former 0.25 s / 0.5 s
    ratios = dict(
        Mask2Former=dict(
            infer_time=2.0, train_time=2.0, infer_mem=1.5, train_mem=None
        )
    )
    bench = _bench_result(
        ('grounder', 0.5, 1.0, 300.0, 900.0),
        ('Mask2Former', 0.25, 0.5, 200.0, None),
        ratios,
    )
    (work / 'instalign_fp16.json').write_text(json.dumps(bench))
    log = work / 'igvg_bf16.log'
    log.write_text('\n'.join(f'line {i}' for i in range(100)))
    out = str(tmp_path / 'out')
    for argv in (
        [
            '--step',
            'env',
            '--status',
            'ok',
            '--result',
            str(work / 'env.json'),
        ],
        [
            '--step',
            'instalign_fp16',
            '--status',
            'ok',
            '--seconds',
            '31.4',
            '--limit',
            '150',
            '--result',
            str(work / 'instalign_fp16.json'),
        ],
        [
            '--step',
            'igvg_bf16',
            '--status',
            'timeout',
            '--rc',
            '124',
            '--limit',
            '150',
            '--log',
            str(log),
        ],
    ):
        gpu_check.main(['record', '--out', out, *argv])
    report = json.loads(open(osp.join(out, 'gpu_check.json')).read())
    assert list(report['steps']) == ['env', 'instalign_fp16', 'igvg_bf16']
    timeout = report['steps']['igvg_bf16']
    assert (timeout['rc'], timeout['limit']) == (124, 150)
    # the last 40 lines of a step that did not end well
    assert timeout['log_tail'].splitlines() == [
        f'line {i}' for i in range(60, 100)
    ]
    assert 'log_tail' not in report['steps']['instalign_fp16']

    text = gpu_check.summary_text(report)
    lines = text.splitlines()
    assert lines[0] == (
        'GPU: NVIDIA H100 80GB HBM3 (nvidia-smi; driver 580, 81559 MiB); '
        'torch 2.11.0+cu130'
    )
    assert '| instalign_fp16 | ok | 31 | 150 |  |' in lines
    assert '| igvg_bf16 | timeout | 0 | 150 |  |' in lines
    # 2 images / 0.5 s, 2 / 1 s; 2 / 0.25 s, 2 / 0.5 s
    assert '| InstAlign | fp16 | 10.0 | 4.00 | 300 | 2.00 | 900 |' in lines
    assert (
        "| mmdet's Mask2Former | fp16 | 10.0 | 8.00 | 200 | 4.00 | n/a |"
        in (lines)
    )
    assert (
        "| InstAlign / mmdet's Mask2Former | fp16 | 2.00 | 2.00 | 1.50 | n/a |"
        in lines
    )
    gpu_check.main(['summary', '--out', out])
    assert open(osp.join(out, 'summary.md')).read() == text

    # --result-only replaces a result and keeps the status and times
    env['torch'] = '2.12.0'
    (work / 'env.json').write_text(json.dumps(env))
    gpu_check.main(
        ['record', '--out', out, '--step', 'env', '--result-only']
        + ['--result', str(work / 'env.json')]
    )
    report = json.loads(open(osp.join(out, 'gpu_check.json')).read())
    assert report['steps']['env']['result']['torch'] == '2.12.0'
    assert report['steps']['env']['status'] == 'ok'


def test_nvidia_smi_parsing(monkeypatch):
    gpu_check = _helper()
    monkeypatch.setattr(
        gpu_check,
        '_run',
        lambda cmd: (
            'NVIDIA H100 80GB HBM3, 580.159.04, 81559\n'
            'NVIDIA H200, 580.159.03, 143771'
        ),
    )
    assert gpu_check.gpu_from_nvidia_smi() == [
        dict(
            name='NVIDIA H100 80GB HBM3', driver='580.159.04', memory_mib=81559
        ),
        dict(name='NVIDIA H200', driver='580.159.03', memory_mib=143771),
    ]
    monkeypatch.setattr(gpu_check, '_run', lambda cmd: None)
    assert gpu_check.gpu_from_nvidia_smi() is None


def test_msda_check_on_cpu(tmp_path):
    """The dry run of the msda step: the op against itself is exact in
    fp32, and within the mixed-precision tolerances under CPU autocast; a
    module with other weights is far outside the fp32 tolerance."""
    import torch
    from mmcv.ops import MultiScaleDeformableAttention

    gpu_check = _helper()
    out = tmp_path / 'msda.json'
    gpu_check.main(
        ['msda', '--device', 'cpu', '--small', '--out-json', str(out)]
    )
    got = json.loads(out.read_text())
    assert got['ok'] and list(got['cases']) == ['fp32', 'fp16', 'bf16']
    fp32 = got['cases']['fp32']
    assert fp32['output'] == fp32['grad_value'] == fp32['grad_query'] == 0
    assert got['cases']['bf16']['judged'] == ['output', 'grad_value']

    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(
        embed_dims=32,
        num_heads=8,
        num_levels=1,
        num_points=4,
        batch_first=True,
    ).eval()
    other = MultiScaleDeformableAttention(
        embed_dims=32,
        num_heads=8,
        num_levels=1,
        num_points=4,
        batch_first=True,
    ).eval()
    shapes = torch.tensor([[4, 4]])
    inputs = dict(
        query=torch.randn(1, 16, 32),
        value=torch.randn(1, 16, 32),
        reference_points=torch.rand(1, 16, 1, 2),
        spatial_shapes=shapes,
        level_start_index=torch.tensor([0]),
    )
    cpu = torch.device('cpu')
    same = gpu_check.msda_case(attn, attn, inputs, cpu, None, True)
    assert same == dict(output=0.0, grad_query=0.0, grad_value=0.0)
    errors = gpu_check.msda_case(attn, other, inputs, cpu, None, True)
    assert errors['output'] > 100 * gpu_check.MSDA_TOLERANCE['fp32']


def test_configs_with_stand_ins(tmp_path, capsys):
    """The full-size configs that read no file: GSVA with LLaVA-7B's
    architecture cut to 4 decoder layers and a word-level tokenizer of
    Vicuna's size (32000 words + <image>, [SEG], [REJ]), IGVG with a
    WordPiece stand-in for beit3.spm; and in a dry run the tiny RaAM-RVG
    with the direct interaction."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    gpu_check = _helper()
    gpu_check.main(
        ['configs', '--dir', str(tmp_path), '--gsva-llm-layers', '4']
    )
    paths = dict(
        line.split('=', 1) for line in capsys.readouterr().out.splitlines()
    )
    assert sorted(paths) == [
        'gsva',
        'igvg',
        'instalign',
        'raam',
        'raam_direct',
    ]
    assert paths['raam_direct'].endswith(
        'configs/raam/ablations/raam_vit-b_bert-base_2xb8-60e_grefcoco_direct.py'
    )
    cfg = Config.fromfile(paths['gsva'])
    with DefaultScope.overwrite_default_scope('mmgres'), torch.device('meta'):
        gsva = MODELS.build(cfg.model)
    llava = sum(
        p.numel()
        for name, p in gsva.mllm.named_parameters()
        if '.lora_' not in name
    )
    # LLaVA-7B's 7_045_818_368 (tests/.../test_gsva_configs.py) less 28
    # decoder layers of 4 x 4096^2 (attention) + 3 x 4096 x 11008 (MLP) +
    # 2 x 4096 (norms) = 202_383_360 each
    # plus the embedding and output rows of the 10 words of the
    # pre-training templates a closed word list gets after its others
    extra = len(gsva.mllm.tokenizer) - 32003
    assert extra == 10
    assert llava - extra * 2 * 4096 == 7_045_818_368 - 28 * 202_383_360
    assert 7_045_818_368 - 28 * 202_383_360 == 1_379_084_288
    assert gsva.mllm.model.config.text_config.num_hidden_layers == 4

    igvg = Config.fromfile(paths['igvg']).model.backbone.tokenizer
    assert igvg.type == 'WordPieceTokenizer' and 'vocab_file' not in igvg

    gpu_check.main(['configs', '--dir', str(tmp_path / 'dry'), '--dry-run'])
    paths = dict(
        line.split('=', 1) for line in capsys.readouterr().out.splitlines()
    )
    assert paths['igvg'].endswith('igvg_tiny_1xb8-5e_synthetic-grefcoco.py')
    direct = Config.fromfile(paths['raam_direct'])
    assert direct.model.backbone.interaction == 'direct'
    assert direct.model.backbone.vision.embed_dims == 64  # the tiny one's
