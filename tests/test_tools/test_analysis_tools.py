"""get_flops.py and benchmark.py on the tiny InstAlign, in-process."""

import re
import sys

import pytest

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


def _main(module, argv, monkeypatch):
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        mod = __import__(module)
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(sys, 'argv', [module + '.py', *argv])
    mod.main()


def _flops(capsys, monkeypatch, size):
    _main('get_flops', [CONFIG, '--shape', str(size), str(size)], monkeypatch)
    out = capsys.readouterr().out
    params = float(re.search(r'params: ([0-9.]+) M', out).group(1))
    flops = float(re.search(r'FLOPs: ([0-9.]+) T', out).group(1))
    macs = float(re.search(r'MACs: ([0-9.]+) T', out).group(1))
    return params, flops, macs


def test_get_flops_scales_with_input(capsys, monkeypatch):
    p1, f1, m1 = _flops(capsys, monkeypatch, 64)
    p2, f2, _ = _flops(capsys, monkeypatch, 128)
    assert p1 == p2 == pytest.approx(1.52, abs=0.01)
    assert 0 < f1 < f2
    assert m1 == pytest.approx(f1 / 2, abs=1e-4)


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
