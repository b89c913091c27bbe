"""find_dataset_problems and tools/analysis_tools/check_dataset.py."""

import os
import os.path as osp
import runpy
import subprocess
import sys

import cv2
import numpy as np
import pytest
from refer_fixtures import (
    dataset_cfg,
    grefs,
    instances_json,
    write_all,
    write_json,
)

from mmgres.datasets.utils import find_dataset_problems

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'check_dataset.py')


def _broken_root(tmp_path):
    """The fixture with one problem of each kind in the train split."""
    root = write_all(str(tmp_path))
    refs = grefs()
    refs[1]['ann_id'] = [12, 999]  # missing annotation
    refs[2]['sentences'][0]['raw'] = '  '  # empty expression
    refs[3]['image_id'] = 3  # ref 103's anns belong to image 1
    write_json(osp.join(root, 'grefcoco', 'grefs(unc).json'), refs)
    data = instances_json()
    data['annotations'][0]['segmentation'] = dict(size=[5, 5], counts='x')
    write_json(osp.join(root, 'instances.json'), data)
    # img1.png 50 pixels wide, where instances.json says 48
    cv2.imwrite(
        osp.join(root, 'images', 'img1.png'), np.zeros((32, 50, 3), np.uint8)
    )
    os.remove(osp.join(root, 'images', 'img3.png'))  # only val uses it
    return root


def test_train_splits_only_note_the_short_polygon(refer_root):
    # every train split uses ann 11, whose 2-point polygon is dropped
    for kind in ('grefcoco', 'refcoco', 'rrefcoco', 'refzom'):
        problems = find_dataset_problems(dataset_cfg(refer_root, kind))
        assert len(problems) == 1, problems
        assert problems[0].endswith(
            'ann_id=11: polygons with fewer than 3 points are dropped'
        )


def test_val_notes_dropped_object(refer_root):
    problems = find_dataset_problems(
        dataset_cfg(refer_root, 'grefcoco', split='val')
    )
    # ref 105 keeps ann 16; ann 15 (only an invalid polygon) is dropped
    assert len(problems) == 1
    assert 'ann_id=15: no valid polygon' in problems[0]


def test_lists_all_problems(tmp_path):
    root = _broken_root(tmp_path)
    problems = find_dataset_problems(dataset_cfg(root, 'grefcoco'))
    text = '\n'.join(problems)
    assert 'ref_id=101 refers to ann_id=999' in text
    assert 'ref_id=102, sent_id=1003: empty expression' in text
    assert (
        'ref_id=103 (image_id=3) refers to ann_id=12 of another image' in text
    )
    assert 'ann_id=11: invalid segmentation: RLE size [5, 5]' in text
    assert (
        'ref_id=103 (image_id=3) refers to ann_id=14 of another image' in text
    )
    assert (
        'img1.png is 32x50 (h x w) but the annotation file says 32x48' in text
    )
    # 5 annotation problems + the image size; ref 102's 2nd sentence is fine
    assert len(problems) == 6, text

    val = find_dataset_problems(
        dataset_cfg(root, 'grefcoco', split='val'), decode_images=False
    )
    assert any('image not found' in p and 'img3.png' in p for p in val)
    assert not any('img1.png' in p for p in val)  # not decoded

    broken_format = find_dataset_problems(
        dataset_cfg(root, 'grefcoco', ann_file='nothing.json')
    )
    assert len(broken_format) == 1 and 'nothing.json' in broken_format[0]


def test_wrapped_datasets(refer_root):
    cfg = dict(
        type='ConcatDataset',
        datasets=[
            dataset_cfg(refer_root, 'grefcoco', split='val'),
            dict(
                type='RepeatDataset',
                times=2,
                dataset=dataset_cfg(refer_root, 'refcoco'),
            ),
        ],
    )
    # ann 15 (grefcoco val) and ann 11 (refcoco train)
    assert len(find_dataset_problems(cfg)) == 2


def _write_config(path, root, split='testA'):
    cfg = dataset_cfg(root, 'grefcoco', split=split)
    path.write_text(
        f'val_dataloader = dict(dataset={cfg!r})\n'
        'test_dataloader = val_dataloader\n'
    )
    return str(path)


def test_tool_clean_config_exits_0(tmp_path, refer_root, monkeypatch, capsys):
    good = _write_config(tmp_path / 'good.py', refer_root)
    monkeypatch.setattr(sys, 'argv', [TOOL, good])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(TOOL, run_name='__main__')
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert 'No problem found.' in out
    assert '[train] no train_dataloader.dataset' in out
    assert '[test] same dataset as checked above' in out


def test_tool_cli_lists_problems_and_exits_1(tmp_path):
    bad = _write_config(
        tmp_path / 'bad.py', _broken_root(tmp_path / 'b'), split='train'
    )
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, TOOL, bad, '--split', 'val'],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout
    assert '6 problem(s) found' in proc.stdout
    assert 'ann_id=999' in proc.stdout
