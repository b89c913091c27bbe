"""Command lines of tools/analysis_tools: every option is described in
``--help``, and check_dataset.py shows its progress on a terminal."""

import argparse
import glob
import io
import os.path as osp
import runpy
import sys

import pytest
from test_browse_eval import CONFIG, write_grefcoco
from tool_utils import REPO

TOOLS = sorted(glob.glob(osp.join(REPO, 'tools', 'analysis_tools', '*.py')))
CHECK = osp.join(REPO, 'tools', 'analysis_tools', 'check_dataset.py')


class _Parser(Exception):
    """Carries the parser out of a tool's ``parse_args``."""


def tool_parser(path, monkeypatch):
    """The ``argparse`` parser a tool's ``parse_args()`` builds."""

    def capture(self, *args, **kwargs):
        raise _Parser(self)

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
    namespace = runpy.run_path(path)
    with pytest.raises(_Parser) as info:
        namespace['parse_args']()
    return info.value.args[0]


@pytest.mark.parametrize('path', TOOLS, ids=osp.basename)
def test_every_option_has_help(path, monkeypatch):
    parser = tool_parser(path, monkeypatch)
    undocumented = [
        '/'.join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        and not (action.help or '').strip()
    ]
    assert not undocumented, f'{osp.basename(path)}: {undocumented}'


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _check(config, monkeypatch, stderr):
    monkeypatch.setattr(sys, 'argv', [CHECK, config, '--split', 'val'])
    monkeypatch.setattr(sys, 'stderr', stderr)
    with pytest.raises(SystemExit) as info:
        runpy.run_path(CHECK, run_name='__main__')
    return info.value.code


@pytest.fixture
def gref_config(tmp_path):
    root = str(tmp_path / 'grefcoco')
    write_grefcoco(root)
    cfg = tmp_path / 'tiny_grefcoco.py'
    cfg.write_text(CONFIG.format(root=root))
    return str(cfg)


def test_check_dataset_progress_on_a_terminal(
    gref_config, monkeypatch, capsys
):
    stderr = _Terminal()
    assert _check(gref_config, monkeypatch, stderr) == 0
    assert 'No problem found.' in capsys.readouterr().out
    # the val refs use both images: mmengine's ProgressBar counts to 2/2
    assert '] 2/2,' in stderr.getvalue()


def test_check_dataset_no_progress_when_redirected(
    gref_config, monkeypatch, capsys
):
    stderr = io.StringIO()
    assert _check(gref_config, monkeypatch, stderr) == 0
    assert 'No problem found.' in capsys.readouterr().out
    assert stderr.getvalue() == ''
