"""benchmark_eval.py: two gloo ranks give one rank's metric values, and
what the gRefCOCO metrics keep per sample stays a few integers."""

import importlib.util
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.logging import MMLogger
from tool_utils import REPO, tool_env

TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_eval.py')
# 13 samples: the DefaultSampler pads them to 7 + 7 on two ranks
ARGS = [
    '--num-samples',
    '13',
    '--shape',
    '24',
    '32',
    '--img-shape',
    '24',
    '24',
    '--chunk-size',
    '4',
    '--batch-size',
    '2',
]


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('benchmark_eval', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rank_indices_as_default_sampler(tool):
    # 5 samples on 2 ranks: padded with index 0 to 6, then dealt
    assert tool.rank_indices(5, 0, 2) == [0, 2, 4]
    assert tool.rank_indices(5, 1, 2) == [1, 3, 0]
    assert tool.rank_indices(3, 0, 1) == [0, 1, 2]


def test_sample_is_determined_by_its_index(tool):
    a = tool.make_sample(3, shape=(24, 32))
    b = tool.make_sample(3, shape=(24, 32))
    assert a.gt_sem_seg.data.shape == (1, 24, 32)
    assert a.pred_sem_seg.data.dtype == b.pred_sem_seg.data.dtype
    assert (a.pred_sem_seg.data == b.pred_sem_seg.data).all()
    assert (a.gt_sem_seg.data == b.gt_sem_seg.data).all()
    assert len(a.gt_instances) == len(a.gt_instances.masks)


def _same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def test_two_ranks_equal_one(tool, tmp_path):
    out = tmp_path / 'two.json'
    proc = subprocess.run(
        [sys.executable, TOOL, *ARGS, '--world-size', '2', '--out', str(out)],
        cwd=tmp_path,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    two = json.loads(out.read_text())
    MMLogger.get_current_instance()  # its handler outlives capsys
    one = tool.main([*ARGS, '--world-size', '1'])

    assert sorted(two['metrics']) == sorted(one['metrics'])
    assert {k.split('/')[0] for k in two['metrics']} == {'gres', 'grec'}
    for key, value in one['metrics'].items():
        assert _same(two['metrics'][key], value), key
    assert 0 < one['metrics']['gres/gIoU'] < 100

    assert two['processed_per_rank'] == [7, 7]
    assert one['processed_per_rank'] == [13]
    assert sorted(two['per_metric']) == ['GRECMetric', 'GRESMetric']
    for m in two['per_metric'].values():
        stored = m['stored_per_rank']
        assert [s['num'] for s in stored] == [7, 7]
        # a few Python ints per sample: GRES 5, GREC 3 + one per IoU
        # threshold (0.5, 0.7), each pickled in at most 5 bytes
        for s in stored:
            assert s['leaf_types'] == ['int'] and s['largest_array'] == 0
            assert s['bytes_per_sample'] <= 4 + 5 * 5 + 2
        # rank 0 holds all 13 (the padded duplicate dropped)
        assert m['collect_rank0']['num'] == 13
        assert m['collect_rank0']['pickled_bytes'] < 13 * 31 + 16
        assert m['compute_metrics_s'] >= 0
