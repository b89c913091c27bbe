"""Kill a training run after a checkpoint, resume it, and check it goes on
from the saved iteration with the saved optimizer state."""

import shutil

import torch
from tool_utils import TOY_CONFIG, run_tool


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
