"""2-process distributed training on CPU (gloo) with tools/dist_train.sh."""

import socket
import subprocess

import torch
from tool_utils import REPO, TOY_CONFIG, tool_env


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_two_ranks_same_weights(tmp_path):
    env = tool_env(PORT=_free_port())
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            TOY_CONFIG,
            '2',
            '--work-dir',
            str(tmp_path),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'CPU distributed run: gloo, rank 0 of 2' in proc.stdout
    import mmgres  # noqa: F401

    w0 = torch.load(tmp_path / 'rank0_weights.pth', weights_only=True)
    w1 = torch.load(tmp_path / 'rank1_weights.pth', weights_only=True)
    init = torch.nn.Linear(4, 1)  # weights moved away from any init
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)
    assert not torch.equal(w0['linear.weight'], init.weight.detach())
    assert (tmp_path / 'iter_8.pth').is_file()

    # distributed evaluation of the saved checkpoint
    env = tool_env(PORT=_free_port())
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_test.sh',
            TOY_CONFIG,
            str(tmp_path / 'iter_8.pth'),
            '2',
            '--work-dir',
            str(tmp_path / 'test'),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'mse:' in proc.stdout
