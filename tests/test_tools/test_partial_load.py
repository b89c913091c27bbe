"""tools/test.py refuses a checkpoint of another model (a tiny InstAlign
checkpoint for the tiny RaAM), naming the unmatched key prefixes, and loads
it with --allow-partial-load; eval_predictions.py reads what --out wrote
with its restricted unpickler."""

import glob
import os.path as osp
import runpy
import sys

import mmengine
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from tool_utils import REPO

from mmgres.models.grounders import BaseGrounder
from mmgres.models.utils.checkpoint_coverage import CheckpointMismatchError

TEST = osp.join(REPO, 'tools', 'test.py')
EVAL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_predictions.py')
RAAM = osp.join(REPO, 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py')
INSTALIGN = osp.join(
    REPO, 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from mmgres.datasets import generate_synthetic_grefcoco

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_grefcoco(
        root, num_images=dict(testA=1), img_size=64, progress=False
    )
    return root + '/'


@pytest.fixture(scope='module')
def instalign_ckpt(tmp_path_factory):
    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(Config.fromfile(INSTALIGN).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'instalign_tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def _test(args, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [TEST, *args])
    runpy.run_path(TEST, run_name='__main__')


def test_other_model_checkpoint(
    synthetic, instalign_ckpt, tmp_path, monkeypatch
):
    # the tool sets the process-wide default; restore it afterwards
    monkeypatch.setattr(BaseGrounder, 'allow_partial_load', False)
    args = [
        RAAM,
        instalign_ckpt,
        '--work-dir',
        str(tmp_path / 'work'),
        '--cfg-options',
        f'test_dataloader.dataset.data_root={synthetic}',
        'test_dataloader.batch_size=4',
    ]
    with pytest.raises(CheckpointMismatchError) as info:
        _test(args, monkeypatch)
    msg = str(info.value)
    assert 'of RaAMRVG' in msg
    unfilled, unused = msg.splitlines()[1:3]
    assert unfilled.startswith('Model entries it does not fill')
    assert 'backbone.vision' in unfilled and 'head.' in unfilled
    assert unused.startswith('Checkpoint entries the model does not use')
    assert 'backbone.' in unused and 'backbone.vision' not in unused
    assert 'tools/model_converters/' in msg

    preds = str(tmp_path / 'preds.pkl')
    _test(
        [*args[:2], '--allow-partial-load', '--out', preds, *args[2:]],
        monkeypatch,
    )
    logs = glob.glob(str(tmp_path / 'work' / '*' / '*.log'))
    assert any('gIoU' in open(log).read() for log in logs)

    # what DumpResults wrote loads without running code, as pickle reads it
    load_predictions = runpy.run_path(EVAL)['load_predictions']
    got, expected = load_predictions(preds), mmengine.load(preds)
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected):
        assert a.keys() == b.keys()
        torch.testing.assert_close(
            a['pred_sem_seg']['data'], b['pred_sem_seg']['data']
        )
        assert (
            a['gt_instances']['masks'].masks
            == b['gt_instances']['masks'].masks
        ).all()
