"""Helpers for tests that run the tools in subprocesses."""

import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_DIR = osp.join(REPO, 'tests', 'data', 'toy')
TOY_CONFIG = osp.join(TOY_DIR, 'toy_regressor.py')


def tool_env(with_repo=True, **extra):
    """Environment for running the tools in a subprocess.

    ``with_repo=False`` leaves the repository off ``PYTHONPATH``, so that
    only the installed package is found.
    """
    env = dict(os.environ)
    paths = [TOY_DIR, REPO if with_repo else '', env.get('PYTHONPATH', '')]
    env['PYTHONPATH'] = os.pathsep.join(p for p in paths if p)
    env['PYTHONUNBUFFERED'] = '1'
    # the interpreter running the tests, and its scripts (mim), come first
    env['PATH'] = os.pathsep.join(
        [osp.dirname(sys.executable), env.get('PATH', '')]
    )
    env['PYTHON'] = sys.executable
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_tool(args, check=True, timeout=300, **env):
    """Run ``python args...`` from the repo root; return the CompletedProcess
    with stdout and stderr merged."""
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=tool_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}:\n{proc.stdout[-4000:]}'
        )
    return proc


def import_deepspeed_quietly():
    """Import DeepSpeed in a test process, or skip the test without it.

    DeepSpeed's import picks an accelerator (on a machine without CUDA it
    warns unless ``DS_ACCELERATOR`` names one) and probes each of its ops
    by compiling and linking a small program; the linker's errors (the
    ``async_io`` op's ``-laio``) go to file descriptor 2, past pytest's
    capture. Both are noise for a test that only builds a strategy.
    """
    import importlib.util

    import pytest

    if importlib.util.find_spec('deepspeed') is None:
        pytest.skip('deepspeed is not installed (requirements/nodeps.txt)')
    os.environ.setdefault('DS_ACCELERATOR', 'cpu')
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
            import deepspeed
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return deepspeed
