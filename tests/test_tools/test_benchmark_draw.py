"""benchmark_draw.py: the three measurements run, each in its own process."""

import subprocess
import sys

from tool_utils import REPO, tool_env


def test_benchmark_draw_small_image(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            'tools/analysis_tools/benchmark_draw.py',
            '--size',
            '600',
            '--max-draw-size',
            '256',
        ],
        cwd=REPO,
        env=tool_env(TMPDIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith('|')]
    for step in ('inference', 'draw-full', 'draw-bounded'):
        assert any(step in row for row in rows), proc.stdout[-2000:]
