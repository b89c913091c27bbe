"""benchmark_interaction.py --model: the whole RaAM-RVG against its
direct-interaction variant, on the tiny config."""

import sys

import pytest

sys.path.insert(0, 'tools/analysis_tools')
try:
    import benchmark_interaction as bench
finally:
    sys.path.pop(0)

CONFIG = 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py'


ARGV = ['--model', CONFIG, '--shape', '64', '64', '--text', 'the red']
ARGV += ['--warmup', '0', '--iters', '1', '--threads', '1']


@pytest.fixture(scope='module')
def row():
    return bench.main(ARGV)


def test_sizes_seen_by_the_blocks(row):
    # ViT with 8-pixel patches at 64x64: 8x8 tokens in each of the 4 stages;
    # [CLS] the red [SEP]
    assert row['M'] == [64] * 4
    assert row['T'] == 4


def test_only_the_interaction_differs(row, capsys):
    for name in ('raam', 'direct'):
        assert 0 < row[f'{name}_block_flops'] < row[f'{name}_flops']
        assert row[f'{name}_time'] > 0
        assert row[f'{name}_mem'] is None or row[f'{name}_mem'] > 0
    # everything outside the interaction blocks is the same network
    outside_raam = row['raam_flops'] - row['raam_block_flops']
    outside_direct = row['direct_flops'] - row['direct_block_flops']
    assert outside_raam == outside_direct
    assert row['params']['raam'] != row['params']['direct']
    bench.report_model(row, bench.parse_args(ARGV))
    out = capsys.readouterr().out
    assert 'Whole model' in out and 'direct/RaAM' in out
    assert 'interaction GFLOPs' in out
