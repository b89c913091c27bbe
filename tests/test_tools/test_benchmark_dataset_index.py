"""benchmark_dataset_index.py at a tiny size: the structure and sanity of
its JSON (not the timings). The measurements run in this process (the
tool runs each in a fresh one, which costs an import of mmdet each)."""

import argparse
import gc
import importlib.util
import json
import os.path as osp

import pytest
from tool_utils import REPO


def load(*parts):
    path = osp.join(REPO, 'tools', *parts)
    spec = importlib.util.spec_from_file_location(osp.basename(path), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('realscale'))
    gen = load('dataset_converters', 'generate_realscale_refer.py')
    gen.main(['--out-dir', out, '--scale', '0.001', '--write-images', '2'])
    return out, gen.plan_counts(0.001)


def test_benchmark_json(data_root, tmp_path, monkeypatch):
    root, plan = data_root
    tool = load('analysis_tools', 'benchmark_dataset_index.py')
    calls = []

    def in_process(args, step, dataset):
        calls.append((step, dataset))
        child = argparse.Namespace(**vars(args))
        child.step, child.dataset = step, dataset
        measure = (
            tool.measure_build if step == 'build' else (tool.measure_workers)
        )
        return json.loads(json.dumps(measure(child)))

    monkeypatch.setattr(tool, 'run_child', in_process)
    # a full collection of this process's heap takes a second or more
    monkeypatch.setattr(gc, 'collect', lambda *args: 0)
    out = str(tmp_path / 'index.json')
    tool.main(
        [
            '--data-root',
            root,
            '--repeats',
            '2',
            '--workers',
            '2',
            '--samples-per-worker',
            '8',
            '--batch-size',
            '2',
            '--datasets',
            'coco',
            'grefcoco',
            'refcoco',
            '--out',
            out,
        ]
    )
    # interleaved rounds, the order rotated; then one worker run each
    assert calls == [
        ('build', 'coco'),
        ('build', 'grefcoco'),
        ('build', 'refcoco'),
        ('build', 'grefcoco'),
        ('build', 'refcoco'),
        ('build', 'coco'),
        ('workers', 'coco'),
        ('workers', 'grefcoco'),
        ('workers', 'refcoco'),
    ]
    with open(out) as f:
        report = json.load(f)
    results = report['results']
    assert list(results) == ['coco', 'grefcoco', 'refcoco']
    assert results['coco']['samples'] == sum(plan['images'].values())
    assert (
        results['grefcoco']['samples']
        == (plan['grefcoco']['train']['expressions'])
    )
    assert (
        results['refcoco']['samples']
        == (plan['refcoco']['train']['expressions'])
    )
    for row in results.values():
        assert len(row['runs']) == 2
        assert row['seconds'] > 0
        assert row['serialized_mb'] > 0
        # PSS adds a share of the pages shared with the main process
        assert 0 < row['worker_uss_mb'] <= row['worker_pss_mb']
        for key in ('seconds', 'serialized_mb', 'worker_uss_mb'):
            expected = row[key] / results['coco'][key]
            assert row['ratios'][key] == pytest.approx(expected)
    assert results['coco']['ratios']['seconds'] == 1.0


def test_format_table():
    tool = load('analysis_tools', 'benchmark_dataset_index.py')
    builds = {
        'coco': [
            dict(
                samples=10,
                seconds=2.0,
                rss_delta_mb=100.0,
                peak_delta_mb=200.0,
                serialized_mb=10.0,
            )
        ],
        'grefcoco': [
            dict(
                samples=30,
                seconds=3.0,
                rss_delta_mb=50.0,
                peak_delta_mb=300.0,
                serialized_mb=12.0,
            )
        ],
    }
    workers = {
        'coco': dict(worker_uss_mb=4.0, worker_pss_mb=40.0),
        'grefcoco': dict(worker_uss_mb=5.0, worker_pss_mb=42.0),
    }
    results = tool.summarize(builds, workers)
    assert results['grefcoco']['ratios']['seconds'] == 1.5
    assert results['grefcoco']['ratios']['worker_uss_mb'] == 1.25
    table = tool.format_table(results)
    assert '| grefcoco | 30 | 3.0 (1.50x) | 50 (0.50x) | 300 (1.50x) ' in table
