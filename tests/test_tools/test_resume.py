"""Kill a training run after a checkpoint, resume it, and check it goes on
from the saved iteration with the saved optimizer state."""

import os.path as osp
import runpy
import shutil
import sys

import pytest
import torch
from tool_utils import REPO, TOY_CONFIG, run_tool

from mmgres.utils import (
    checkpoint_problem,
    find_intact_checkpoint,
    resolve_resume_checkpoint,
)


def _load(path):
    import mmgres  # noqa: F401  (installs the allow-list)

    return torch.load(path, map_location='cpu', weights_only=True)


def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
    # Reference: 8 iterations without interruption.
    ref = tmp_path / 'ref'
    run_tool(['tools/train.py', TOY_CONFIG, '--work-dir', str(ref)])

    # Killed (SIGKILL) during iteration 5, after iter_4.pth was saved.
    work = tmp_path / 'work'
    proc = run_tool(
        ['tools/train.py', TOY_CONFIG, '--work-dir', str(work)],
        check=False,
        MMGRES_TOY_KILL_AT=5,
    )
    assert proc.returncode == -9, proc.stdout[-2000:]
    assert (work / 'iter_4.pth').is_file()
    assert not (work / 'iter_6.pth').exists()
    saved = _load(work / 'iter_4.pth')

    proc = run_tool(
        ['tools/train.py', TOY_CONFIG, '--work-dir', str(work), '--resume']
    )
    assert 'resumed epoch: 0, iter: 4' in proc.stdout
    state = _load(work / 'state_before_train.pth')
    assert state['iter'] == 4
    opt_saved = saved['optimizer']['state']
    opt_resumed = state['optimizer']['state']
    assert opt_saved.keys() == opt_resumed.keys() and opt_saved
    for k in opt_saved:
        torch.testing.assert_close(
            opt_resumed[k]['momentum_buffer'], opt_saved[k]['momentum_buffer']
        )
    assert (work / 'iter_8.pth').is_file()

    # Same data order and state: the resumed run ends on the same weights.
    w_ref = _load(ref / 'rank0_weights.pth')
    w_res = _load(work / 'rank0_weights.pth')
    for k in w_ref:
        torch.testing.assert_close(w_res[k], w_ref[k])


def test_resume_from_corrupt_checkpoint_is_clear_and_keeps_others(tmp_path):
    work = tmp_path / 'work'
    run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(work),
            '--cfg-options',
            'train_cfg.max_iters=4',
        ]
    )
    good = (work / 'iter_2.pth').read_bytes()
    (work / 'iter_4.pth').write_bytes(b'not a checkpoint')
    proc = run_tool(
        ['tools/train.py', TOY_CONFIG, '--work-dir', str(work), '--resume'],
        check=False,
    )
    assert proc.returncode != 0
    assert 'iter_4.pth is corrupt or not a checkpoint' in proc.stdout
    assert 'iter_2.pth' in proc.stdout
    # the other checkpoint is intact and still resumable
    assert (work / 'iter_2.pth').read_bytes() == good
    shutil.rmtree(work / 'state_before_train.pth', ignore_errors=True)
    proc = run_tool(
        [
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(work),
            '--resume',
            str(work / 'iter_2.pth'),
            '--cfg-options',
            'train_cfg.max_iters=4',
        ]
    )
    assert 'resumed epoch: 0, iter: 2' in proc.stdout


# the toy config trained by epochs of 8 iterations, a checkpoint each epoch
EPOCH_CONFIG = """
_base_ = [{toy!r}]
train_cfg = dict(
    _delete_=True, type='EpochBasedTrainLoop', max_epochs=2, val_interval=2
)
default_hooks = dict(checkpoint=dict(interval=1, by_epoch=True))
log_processor = dict(by_epoch=True)
"""


def test_resume_names_and_falls_back_to_intact_checkpoint(tmp_path):
    config = tmp_path / 'toy_epochs.py'
    config.write_text(EPOCH_CONFIG.format(toy=TOY_CONFIG))
    work = tmp_path / 'work'
    train = ['tools/train.py', str(config), '--work-dir', str(work)]
    run_tool(train)
    epoch_1, epoch_2 = work / 'epoch_1.pth', work / 'epoch_2.pth'
    last = (work / 'last_checkpoint').read_text().strip()
    assert last == str(epoch_2)
    data = epoch_2.read_bytes()
    epoch_2.write_bytes(data[: len(data) // 2])  # e.g. killed while saving
    truncated = epoch_2.read_bytes()

    proc = run_tool([*train, '--resume'], check=False)
    assert proc.returncode != 0
    assert f'{epoch_2} is corrupt or not a checkpoint' in proc.stdout
    assert (
        f'The newest intact earlier checkpoint is {epoch_1}: resume from '
        f'it with `--resume {epoch_1}`' in proc.stdout
    ), proc.stdout[-3000:]

    # Killed in the first iteration after the resume, before epoch 2 is
    # saved again: the broken file is still as it was.
    proc = run_tool(
        [*train, '--resume', '--resume-fallback'],
        check=False,
        MMGRES_TOY_KILL_AT=9,
    )
    assert proc.returncode == -9, proc.stdout[-3000:]
    assert (
        f'Cannot resume from {epoch_2} (' in proc.stdout
        and f'Resuming from {epoch_1}, the newest intact earlier '
        'checkpoint, instead.'
        in proc.stdout
    ), proc.stdout[-3000:]
    assert 'resumed epoch: 1, iter: 8' in proc.stdout
    assert _load(work / 'state_before_train.pth')['iter'] == 8
    assert epoch_2.read_bytes() == truncated


def test_resume_fallback_needs_resume(monkeypatch, capsys):
    train = runpy.run_path(osp.join(REPO, 'tools', 'train.py'))
    monkeypatch.setattr(
        sys, 'argv', ['train.py', TOY_CONFIG, '--resume-fallback']
    )
    with pytest.raises(SystemExit) as info:
        train['parse_args']()
    assert info.value.code == 2
    assert '--resume-fallback applies only with --resume' in (
        capsys.readouterr().err
    )


def _save(path, step):
    torch.save(dict(meta=dict(iter=step), state_dict={}), path)


def test_find_intact_checkpoint_skips_broken_ones(tmp_path):
    for step in (2, 4, 6, 8):
        _save(tmp_path / f'iter_{step}.pth', step)
    _save(tmp_path / 'epoch_9.pth', 9)  # another kind: never a candidate
    (tmp_path / 'iter_6.pth').write_bytes(b'not a checkpoint')
    data = (tmp_path / 'iter_4.pth').read_bytes()
    (tmp_path / 'iter_4.pth').write_bytes(data[:-30])  # no central directory
    assert checkpoint_problem(str(tmp_path / 'iter_2.pth')) is None
    assert 'central directory' in checkpoint_problem(
        str(tmp_path / 'iter_4.pth')
    )
    assert checkpoint_problem(str(tmp_path / 'iter_10.pth')) is not None

    # iter_8 is later than the broken iter_6; iter_4 is broken too
    assert find_intact_checkpoint(str(tmp_path / 'iter_6.pth')) == str(
        tmp_path / 'iter_2.pth'
    )
    assert find_intact_checkpoint(str(tmp_path / 'iter_2.pth')) is None
    assert resolve_resume_checkpoint(str(tmp_path / 'iter_8.pth')) == str(
        tmp_path / 'iter_8.pth'
    )
    assert resolve_resume_checkpoint(
        str(tmp_path / 'iter_6.pth'), fallback=True
    ) == str(tmp_path / 'iter_2.pth')
    with pytest.raises(RuntimeError, match='iter_2.pth: resume from it'):
        resolve_resume_checkpoint(str(tmp_path / 'iter_6.pth'))
    # a missing checkpoint (last_checkpoint pointing at a deleted file)
    with pytest.raises(FileNotFoundError, match='intact earlier checkpoint'):
        resolve_resume_checkpoint(str(tmp_path / 'iter_10.pth'))
    (tmp_path / 'iter_2.pth').write_bytes(b'')
    with pytest.raises(
        RuntimeError, match='No earlier epoch_N.pth or iter_N.pth'
    ):
        resolve_resume_checkpoint(str(tmp_path / 'iter_4.pth'), fallback=True)
    assert (tmp_path / 'iter_6.pth').read_bytes() == b'not a checkpoint'
