"""DeepSpeed is imported only by a run that builds a DeepSpeed strategy.

mmengine imports DeepSpeed with ``mmengine.runner``; mmgres defers that
import (mmgres/utils/deferred_deepspeed.py), so that importing mmgres,
registering its modules, building a runner and training with any other
strategy neither pays for DeepSpeed's import nor prints its messages.
"""

import importlib.util
import subprocess
import sys

import pytest
from tool_utils import REPO, TOY_CONFIG, run_tool, tool_env

DEEPSPEED_INSTALLED = importlib.util.find_spec('deepspeed') is not None

NO_DEEPSPEED = """
import sys

import mmgres
from mmengine.config import Config
from mmengine.runner import Runner

from mmgres.utils import register_all_modules

register_all_modules()
cfg = Config.fromfile({config!r})
cfg.work_dir = {work_dir!r}
runner = Runner.from_cfg(cfg)
assert 'deepspeed' not in sys.modules, 'deepspeed was imported'
print('no deepspeed')
"""

DEEPSPEED_ON_USE = """
import sys

import mmgres
from mmengine._strategy import DeepSpeedStrategy
from mmengine.registry import OPTIMIZERS

assert 'deepspeed' not in sys.modules
DeepSpeedStrategy(zero_optimization=dict(stage=2))
assert 'deepspeed' in sys.modules
import deepspeed
import mmengine._strategy.deepspeed as strategy_module

assert strategy_module.deepspeed.initialize is deepspeed.initialize
assert OPTIMIZERS.get('FusedAdam') is not None
print('deepspeed on use')
"""


def _python(code):
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )


def test_runner_without_deepspeed_strategy_does_not_import_it(tmp_path):
    proc = _python(
        NO_DEEPSPEED.format(config=TOY_CONFIG, work_dir=str(tmp_path))
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'no deepspeed' in proc.stdout
    assert 'Setting accelerator' not in proc.stdout
    assert '-laio' not in proc.stdout


def test_train_tool_does_not_import_deepspeed(tmp_path):
    # -X importtime lists every module the process imports (on stderr)
    proc = run_tool(
        [
            '-X',
            'importtime',
            'tools/train.py',
            TOY_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'train_cfg.max_iters=1',
            'train_cfg.val_interval=1',
        ]
    )
    imported = [
        line.rsplit('|', 1)[-1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith('import time:')
    ]
    assert 'mmengine._strategy.deepspeed' in imported
    # mmengine's `import deepspeed` is listed, failed (DeepSpeed hidden);
    # importing DeepSpeed imports its submodules
    assert not [m for m in imported if m.startswith('deepspeed.')]
    assert 'Setting accelerator' not in proc.stdout
    assert (tmp_path / 'iter_1.pth').is_file()


@pytest.mark.skipif(
    not DEEPSPEED_INSTALLED, reason='deepspeed is not installed (nodeps.txt)'
)
def test_deepspeed_strategy_imports_deepspeed():
    proc = _python(DEEPSPEED_ON_USE)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'deepspeed on use' in proc.stdout
