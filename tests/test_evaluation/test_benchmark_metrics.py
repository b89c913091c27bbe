"""The metric benchmark tool runs and its baseline counts correctly."""

import contextlib
import importlib.util
import io
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.logging import MMLogger

TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'tools',
    'analysis_tools',
    'benchmark_metrics.py',
)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('benchmark_metrics', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_masks(tool):
    masks = tool.random_masks(np.random.default_rng(0), 3, 20)
    assert masks.shape == (3, 20, 20) and masks.dtype == np.bool_
    assert 0.3 < masks.mean() < 0.7


def test_baseline_counts(tool):
    a = np.array([[[1, 1, 0]]], bool)
    b = np.array([[[0, 1, 1]]], bool)
    # I = 1, U = 3
    _, checksum = tool.time_baseline(a, b)
    assert checksum == 4


def test_main_prints_both_rates(tool, monkeypatch):
    # Create mmengine's logger outside the redirection, so that its handler
    # does not keep a stream that is gone after this test.
    MMLogger.get_current_instance()
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'benchmark_metrics.py',
            '--num-samples',
            '10',
            '--size',
            '16',
            '--chunk-size',
            '4',
            '--batch-size',
            '3',
        ],
    )
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tool.main()
    out = buffer.getvalue()
    assert 'GRESMetric:' in out and 'numpy baseline' in out
    assert 'ratio metric/baseline throughput:' in out
