"""`mim train mmgres` and `mim test mmgres` after the README install."""

import os.path as osp
import shutil
import subprocess

import pytest
from tool_utils import TOY_CONFIG, tool_env

import mmgres


def _mim():
    exe = shutil.which('mim', path=tool_env()['PATH'])
    if exe is None:
        pytest.fail(
            '`mim` is not installed; the README install route '
            '(tools/setup_env.sh) installs openmim.'
        )
    return exe


def test_mim_finds_tools_and_configs():
    mim_dir = osp.join(osp.dirname(mmgres.__file__), '.mim')
    assert osp.isfile(osp.join(mim_dir, 'tools', 'train.py'))
    assert osp.isfile(osp.join(mim_dir, 'tools', 'test.py'))
    assert osp.isfile(
        osp.join(mim_dir, 'configs', '_base_', 'default_runtime.py')
    )


def test_mim_train_and_test(tmp_path):
    mim = _mim()
    env = tool_env(with_repo=False)
    proc = subprocess.run(
        [
            mim,
            'train',
            'mmgres',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'train_cfg.max_iters=2',
            'train_cfg.val_interval=2',
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (tmp_path / 'iter_2.pth').is_file()

    proc = subprocess.run(
        [
            mim,
            'test',
            'mmgres',
            TOY_CONFIG,
            '--checkpoint',
            str(tmp_path / 'iter_2.pth'),
            '--work-dir',
            str(tmp_path / 't'),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'mse:' in proc.stdout
