"""benchmark_interaction.py on tiny sizes: FLOP growth checked by hand."""

import sys

import pytest

sys.path.insert(0, 'tools/analysis_tools')
try:
    import benchmark_interaction as bench
finally:
    sys.path.pop(0)

C, CL, N = 8, 6, 16  # visual width, text width, anchors
MS, TS = (16, 36, 64), (3, 6, 12)


def raam_flops(m, t):
    """Eq. 1-4 and 6-8 by hand, 2 FLOPs per MAC (anchor_in maps C -> C_l;
    Eq. 8 as printed reads no P^V, so Eq. 5 is not computed)."""
    macs = (
        N * C * CL  # anchor_in
        + N * CL * CL
        + 2 * t * CL * CL  # ω_p1, ω_l1, ω_l2
        + 2 * N * t * CL  # Att^L and its product with the words
        + 2 * N * CL * CL
        + N * CL * C  # γ's two 1×1 convs, Linear
        + m * C * C  # ω_v1
        + 3 * N * C * C  # ω_p2, ω_p3, ω_p4
        + 2 * N * m * C  # Att^V, F²
    )
    return 2 * macs


def direct_flops(m, t):
    """PWAM + gate by hand (C_k = C_v = C)."""
    macs = (
        m * C * C  # pixel queries
        + 2 * t * CL * C  # word keys and values
        + 2 * m * t * C  # pixel-word logits and weighted sum
        + m * C * C  # attention output projection
        + 2 * m * C * C  # visual and multimodal projections
        + 2 * m * C * C  # the gate's two linear layers
    )
    return 2 * macs


@pytest.fixture(scope='module')
def result():
    argv = ['--channels', str(C), '--text-channels', str(CL)]
    argv += ['--image-tokens', *map(str, MS), '--text-tokens', *map(str, TS)]
    argv += ['--warmup', '0', '--iters', '1', '--threads', '1']
    return bench.main(argv)


def test_flops_match_the_hand_count(result):
    rows, _ = result
    assert len(rows) == len(MS) * len(TS)
    for r in rows:
        assert r['raam_flops'] == raam_flops(r['M'], r['T'])
        assert r['direct_flops'] == direct_flops(r['M'], r['T'])


def _mixed(rows, name, m1, m2, t1, t2):
    """F(M2,T2) - F(M2,T1) - F(M1,T2) + F(M1,T1): only an M·T term
    survives it, as d·(M2 - M1)·(T2 - T1)."""
    f = {(r['M'], r['T']): r[f'{name}_flops'] for r in rows}
    return f[m2, t2] - f[m2, t1] - f[m1, t2] + f[m1, t1]


def test_growth_raam_linear_direct_bilinear(result):
    rows, fits = result
    d = 2 * (C + C)  # direct: 2·(C_k + C_v) FLOPs per pixel-word pair
    assert _mixed(rows, 'raam', 16, 64, 3, 12) == 0
    assert _mixed(rows, 'direct', 16, 64, 3, 12) == d * 48 * 9
    # doubling T (3→6 against 6→12) doubles direct's M·T term
    small = _mixed(rows, 'direct', 16, 64, 3, 6)
    assert _mixed(rows, 'direct', 16, 64, 6, 12) == 2 * small > 0
    assert fits['raam_flops']['coef'][3] == pytest.approx(0.0, abs=1e-12)
    assert fits['raam_flops']['linear_rel_err'] < 1e-9
    # the fit is in GFLOPs
    assert fits['direct_flops']['coef'][3] * 1e9 == pytest.approx(d)
    assert fits['direct_flops']['linear_rel_err'] > 1e-3
    assert fits['direct_flops']['bilinear_rel_err'] < 1e-9


def test_time_and_memory_are_reported(result):
    rows, _ = result
    for r in rows:
        assert r['raam_time'] > 0 and r['direct_time'] > 0
        for key in ('raam_mem', 'direct_mem'):
            assert r[key] is None or r[key] > 0
    assert rows[-1]['raam_mem'] is None or (
        rows[-1]['raam_mem'] > rows[0]['raam_mem']
    )


def test_table_is_printed(capsys):
    bench.main(
        [
            '--channels',
            '4',
            '--text-channels',
            '4',
            '--image-tokens',
            '16',
            '36',
            '--text-tokens',
            '2',
            '4',
            '--no-time',
            '--no-memory',
        ]
    )
    out = capsys.readouterr().out
    assert '1 MAC = 2 FLOPs' in out and 'direct/RaAM' in out
    assert 'Growth: least squares' in out


def test_fit_growth_recovers_coefficients():
    ms, ts = [1, 2, 3, 1, 2, 3], [1, 1, 1, 4, 4, 4]
    ys = [5 + 2 * m + 3 * t + 0.5 * m * t for m, t in zip(ms, ts)]
    fit = bench.fit_growth(ms, ts, ys)
    assert fit['coef'] == pytest.approx([5, 2, 3, 0.5])
    assert fit['bilinear_rel_err'] < 1e-9 < fit['linear_rel_err']


@pytest.mark.parametrize(
    'option',
    [
        'model.backbone.interaction_cfg.use_l2v_gate=False',
        'model.backbone.interaction_cfg.propagate_from=visual',
    ],
)
def test_model_pair_drops_anchor_options_for_direct(option):
    """The direct twin of a config that sets the anchors' options builds:
    those options do not apply to direct interaction."""
    pair = bench.build_model_pair(
        'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py', [option]
    )
    assert pair['raam'].backbone.interaction == 'anchor'
    assert pair['direct'].backbone.interaction == 'direct'
