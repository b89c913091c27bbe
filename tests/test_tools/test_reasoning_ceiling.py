"""tools/analysis_tools/reasoning_ceiling.py on a small synthetic
benchmark: its mask arithmetic, its bad-input errors, and that the oracle
fits a training split."""

import json
import sys

import numpy as np
import pytest

from mmgres.datasets.synthetic import generate_synthetic_grefcoco
from mmgres.datasets.utils import decode_segmentation
from mmgres.evaluation.functional import (
    compute_grec_metrics,
    compute_gres_metrics,
)

sys.path.insert(0, 'tools/analysis_tools')
try:
    import reasoning_ceiling as rc
finally:
    sys.path.pop(0)


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp('syn')
    generate_synthetic_grefcoco(
        str(out),
        num_images=dict(train=10, val=6, testA=1, testB=1),
        progress=False,
    )
    return out


def test_gres_record_by_hand():
    rec = dict(areas=[10, 20, 30], target=[0, 1, 1], no_target=False)
    # picks the first two: I = 20, |pred| = 30, |gt| = 50 -> IoU 20 / 60
    row = rc.gres_record(rec, [True, True, False], False)
    assert row == (0, 0, 20, 30, 50)
    assert compute_gres_metrics([row])['gIoU'] == pytest.approx(100 / 3)
    # "no target" clears the predicted mask
    assert rc.gres_record(rec, [True, True, True], True) == (0, 1, 0, 0, 50)
    nt = dict(areas=[10, 20], target=[0, 0], no_target=True)
    assert rc.gres_record(nt, [False, True], True) == (1, 1, 0, 0, 0)
    assert rc.gres_record(nt, [False, True], False) == (1, 0, 0, 20, 0)


def test_grec_record_by_hand():
    rec = dict(
        boxes=[[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 10, 30]],
        target=[1, 0, 1],
        no_target=False,
    )
    # one right box, one wrong, one missed: TP 1, FP 1, FN 1 -> F1 0.5
    row = rc.grec_record(rec, [True, True, False], False)
    assert row == (0, 2, 2, 1, 1)
    assert compute_grec_metrics([row], (0.5, 0.7))['F1score@0.5'] == 0.0
    exact = rc.grec_record(rec, [True, False, True], False)
    assert compute_grec_metrics([exact], (0.5,))['F1score@0.5'] == 100.0
    # "no target" keeps no box
    assert rc.grec_record(rec, [True, True, True], True) == (0, 0, 2, 0, 0)


def test_masks_of_an_image_do_not_overlap(root):
    """The tool takes a union's area as the sum of the objects' areas."""
    coco = json.loads((root / 'instances.json').read_text())
    sizes = {im['id']: (im['height'], im['width']) for im in coco['images']}
    per_image = {}
    for ann in coco['annotations']:
        h, w = sizes[ann['image_id']]
        mask = decode_segmentation(ann['segmentation'], h, w)
        per_image.setdefault(ann['image_id'], []).append(mask.astype(int))
    for masks in per_image.values():
        assert np.stack(masks).sum(0).max() <= 1


def test_load_split_matches_the_annotations(root):
    refs = json.loads((root / 'grefs(unc).json').read_text())
    val = rc.load_split(str(root), 'val')
    sents = [r for r in refs if r['split'] == 'val' for _ in r['sentences']]
    assert len(val) == len(sents)
    for rec, ref in zip(val, sents):
        assert rec['no_target'] == ref['no_target']
        assert sum(rec['target']) == (
            0 if ref['no_target'] else len(ref['ann_id'])
        )
        assert all(0 <= x <= 1 for c in rec['centres'] for x in c)


def test_unknown_word_is_a_clear_error(root, tmp_path):
    bad = tmp_path / 'bad'
    bad.mkdir()
    for name in ('scenes.json', 'instances.json'):
        (bad / name).write_text((root / name).read_text())
    refs = json.loads((root / 'grefs(unc).json').read_text())
    refs[0]['sentences'][0]['sent'] = 'the zebra'
    (bad / 'grefs(unc).json').write_text(json.dumps(refs))
    with pytest.raises(ValueError, match="unknown: \\['zebra'\\]"):
        rc.load_split(str(bad), refs[0]['split'])


def test_oracle_fits_a_training_split(root, tmp_path):
    out = tmp_path / 'ceiling.json'
    result = rc.main(
        [
            str(root),
            '--samples',
            '4000',
            '--split',
            'train',
            '--embed-dims',
            '32',
            '--nt-thrs',
            '0.2',
            '0.5',
            '0.8',
            '--out',
            str(out),
        ]
    )
    final = result['runs'][0]['final']
    assert len(result['runs'][0]['curve']) == 4
    assert result['runs'][0]['curve'][-1]['samples'] == 4000
    # about 40 expressions seen 100 times each: the oracle learns them
    assert final['gIoU'] > 90
    assert final['grec']['F1score@0.5'] > 80
    # a higher no-target threshold never rejects more
    sweep = result['runs'][0]['nt_sweep']
    assert list(sweep) == [0.2, 0.5, 0.8] and sweep[0.5] is final
    n_acc = [sweep[t]['N_acc'] for t in sweep]
    t_acc = [sweep[t]['T_acc'] for t in sweep]
    assert n_acc == sorted(n_acc, reverse=True) and t_acc == sorted(t_acc)
    assert json.loads(out.read_text())['summary']['gIoU']['mean'] == (
        pytest.approx(final['gIoU'])
    )
