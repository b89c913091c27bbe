"""tools/setup_env.sh, sourced by the README commands, must leave the
caller's `set -e` in force, so that a failing test run fails the command."""

import subprocess

from tool_utils import REPO


def test_sourcing_keeps_errexit():
    proc = subprocess.run(
        [
            'bash',
            '-c',
            'set -eo pipefail; source tools/setup_env.sh >/dev/null; '
            'case $- in *e*) echo ERREXIT_ON;; esac; false; echo AFTER',
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert 'ERREXIT_ON' in proc.stdout, proc.stdout[-2000:]
    assert 'AFTER' not in proc.stdout
    assert proc.returncode != 0


def test_second_run_is_up_to_date():
    proc = subprocess.run(
        ['bash', 'tools/setup_env.sh'],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert 'environment up to date' in proc.stdout
