"""tools/analysis_tools/trivial_baselines.py on a small synthetic split."""

import json
import re
import sys

import pytest

from mmgres.datasets.synthetic import generate_synthetic_grefcoco


def _run(monkeypatch, capsys, root):
    sys.path.insert(0, 'tools/analysis_tools')
    try:
        import trivial_baselines
    finally:
        sys.path.pop(0)
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'trivial_baselines.py',
            'configs/_base_/datasets/synthetic_grefcoco.py',
            '--split',
            'val',
            '--cfg-options',
            f'val_dataloader.dataset.data_root={root}/',
        ],
    )
    trivial_baselines.main()
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        m = re.match(r'^(no_target|all_objects): (.*)$', line)
        if m:
            rows[m.group(1)] = {
                k: float(v)
                for k, v in (kv.split(': ') for kv in m.group(2).split(', '))
            }
    return rows


def test_baselines_match_the_split_composition(tmp_path, monkeypatch, capsys):
    root = tmp_path / 'syn'
    generate_synthetic_grefcoco(
        str(root),
        num_images=dict(train=2, val=12, testA=2, testB=2),
        progress=False,
    )
    refs = json.loads((root / 'grefs(unc).json').read_text())
    sents = [
        (r['no_target'])
        for r in refs
        if r['split'] == 'val'
        for _ in r['sentences']
    ]
    nt_frac = sum(sents) / len(sents)

    rows = _run(monkeypatch, capsys, root)
    nt, allo = rows['no_target'], rows['all_objects']
    # always "no target": IoU 1 exactly on no-target samples, else 0
    assert nt['gres/gIoU'] == pytest.approx(100 * nt_frac, abs=0.01)
    assert nt['gres/cIoU'] == 0.0
    assert nt['gres/N_acc'] == 100.0 and nt['gres/T_acc'] == 0.0
    assert nt['grec/F1score@0.5'] == pytest.approx(100 * nt_frac, abs=0.01)
    # always "everything": never says no-target, and covers every target
    assert allo['gres/N_acc'] == 0.0 and allo['gres/T_acc'] == 100.0
    assert 0.0 < allo['gres/cIoU'] < 100.0
