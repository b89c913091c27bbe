"""tools/train.py and tools/test.py, single process, on the toy config."""

import os.path as osp

import torch
from tool_utils import TOY_CONFIG, run_tool


def test_train_then_test(tmp_path):
    work = tmp_path / 'work'
    run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(work),
            '--cfg-options',
            'train_cfg.max_iters=4',
            'train_cfg.val_interval=4',
        ]
    )
    assert (work / 'iter_4.pth').is_file()
    last = (work / 'last_checkpoint').read_text().strip()
    assert last.endswith('iter_4.pth')
    # the checkpoint loads under torch's safe (weights_only) loading
    import mmgres  # noqa: F401  (installs the allow-list)

    ckpt = torch.load(last, map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 4

    out = tmp_path / 'preds.pkl'
    proc = run_tool(
        [
            'tools/test.py',
            TOY_CONFIG,
            last,
            '--work-dir',
            str(tmp_path / 'test'),
            '--out',
            str(out),
        ]
    )
    assert 'mse:' in proc.stdout
    assert out.is_file()


def test_train_amp_on_cpu(tmp_path):
    proc = run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--amp',
            '--cfg-options',
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=2',
        ]
    )
    assert 'bf16 CPU autocast' in proc.stdout


def test_missing_load_from_fails_before_training(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    proc = run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            f'load_from={missing}',
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert f'load_from checkpoint not found: {missing}' in proc.stdout
    # nothing was built: no log folder was created
    assert not osp.exists(tmp_path / 'w')


def test_missing_test_checkpoint(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    proc = run_tool(['tools/test.py', TOY_CONFIG, missing], check=False)
    assert proc.returncode != 0
    assert f'Test checkpoint not found: {missing}' in proc.stdout


def test_unknown_type_names_scope(tmp_path):
    proc = run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'model.type=NoSuchNet',
        ],
        check=False,
    )
    assert proc.returncode != 0
    assert 'NoSuchNet is not in the mmgres::model registry' in proc.stdout


def test_tta_flag_wraps_the_model_and_swaps_the_pipeline():
    import importlib.util

    import pytest
    from mmengine.config import Config

    spec = importlib.util.spec_from_file_location(
        'mmgres_test_tool',
        osp.join(osp.dirname(__file__), '../../tools/test.py'),
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cfg = Config(
        dict(
            model=dict(type='InstAlign'),
            test_dataloader=dict(dataset=dict(pipeline=['plain'])),
        )
    )
    with pytest.raises(RuntimeError, match='tta_model and tta_pipeline'):
        tool.use_tta(cfg)
    cfg.tta_model = dict(type='GroundingTTAModel', nt_thr=0.4)
    cfg.tta_pipeline = ['tta']
    cfg = tool.use_tta(cfg)
    assert cfg.model.type == 'GroundingTTAModel'
    assert cfg.model.nt_thr == 0.4
    assert cfg.model.module.type == 'InstAlign'
    assert cfg.test_dataloader.dataset.pipeline == ['tta']
