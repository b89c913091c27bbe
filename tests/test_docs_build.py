"""The docs build, and the repository's Markdown links lead somewhere.

``docs/en`` builds with Sphinx and MyST with warnings as errors (a broken
cross-reference, a page outside every toctree, a bad directive), as
``sphinx-build -W`` does. Every relative link of every Markdown file of the
repository points at an existing file or folder, and a ``#fragment`` into a
Markdown file names one of its headings (GitHub's anchors).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs' / 'en'
# what is not the project's own text: environments, data, outputs, copies
TOP_SKIP = {'.venv', 'work_dirs', 'data', 'outputs', 'build', 'dist'}
SKIP_DIRS = {
    '.git',
    '_build',
    '.mim',
    '.pytest_cache',
    '.ruff_cache',
    '__pycache__',
    'node_modules',
}


def _needs_sphinx():
    for module in ('sphinx', 'myst_parser', 'furo', 'sphinx_copybutton'):
        pytest.importorskip(
            module,
            reason=f'{module} is not installed: pip install -r '
            'requirements/docs.txt (tools/setup_env.sh installs it)',
        )


def _sphinx_build(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q']
        + ['-b', 'html', '-d', str(out / '.doctrees'), str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_docs_build_without_warnings(tmp_path):
    _needs_sphinx()
    proc = _sphinx_build(DOCS, tmp_path)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for page in (
        'index',
        'get_started',
        'model_zoo',
        'user_guides/train_test',
        'user_guides/inference',
        'user_guides/dataset_prepare',
        'user_guides/useful_tools',
        'user_guides/model_conversion',
        'notes/index',
    ):
        assert (tmp_path / f'{page}.html').is_file(), page


def test_docs_build_fails_on_a_broken_link(tmp_path):
    """conf.py turns links to repository files outside the docs into text,
    and leaves a link to a missing file to fail the build."""
    _needs_sphinx()
    repo = tmp_path / 'repo'
    (repo / 'mmgres').mkdir(parents=True)
    shutil.copy(ROOT / 'mmgres' / 'version.py', repo / 'mmgres')
    src = repo / 'docs' / 'en'
    src.mkdir(parents=True)
    shutil.copy(DOCS / 'conf.py', src)
    page = (
        '# Page\n\nSee [the version](../../mmgres/version.py) and '
        '[x](#page).\n'
    )
    (src / 'index.md').write_text(page)
    proc = _sphinx_build(src, tmp_path / 'ok')
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / 'ok' / 'index.html').read_text()
    assert 'the version' in html

    (src / 'index.md').write_text(page + '\n[gone](../../mmgres/gone.py)\n')
    proc = _sphinx_build(src, tmp_path / 'broken')
    assert proc.returncode != 0
    assert 'gone.py' in proc.stderr


def markdown_files():
    files = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        top = Path(dirpath) == ROOT
        dirnames[:] = [
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not (top and d in TOP_SKIP)
            and not d.endswith('.egg-info')
        ]
        files += [Path(dirpath) / f for f in filenames if f.endswith('.md')]
    return sorted(files)


FENCE = re.compile(r'^(```|~~~).*?^\1[ \t]*$', re.M | re.S)
COMMENT = re.compile(r'<!--.*?-->', re.S)
CODE_SPAN = re.compile(r'(`+).+?\1', re.S)
# [text](target) and ![alt](target), optionally with a "title"
INLINE_LINK = re.compile(r'\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
# [label]: target
REFERENCE_LINK = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)', re.M)
HEADING = re.compile(r'^#{1,6}\s+(.*?)\s*#*\s*$', re.M)


def _prose(text: str) -> str:
    """The text without code blocks, code spans and comments."""
    text = FENCE.sub('', text)
    text = COMMENT.sub('', text)
    return CODE_SPAN.sub('', text)


def links(text: str) -> list:
    prose = _prose(text)
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading (MyST's ``myst_heading_anchors`` too)."""
    heading = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # links
    heading = heading.strip().lower()
    heading = re.sub(r'[^\w\- ]', '', heading)
    return heading.replace(' ', '-')


def anchors(text: str) -> set:
    found, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub('', text)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f'{base}-{n}')
    return found


def test_link_helpers():
    text = (
        '# A `b` (c)\n\n## A `b` (c)\n\n[x](y.md#a-b-c) ![i](img/p.png "t")\n'
        '[r]: ../r.md\n`[no](code.md)`\n```\n[no](fence.md)\n```\n'
        '<!-- [no](comment.md) --> [web](https://example.com)\n'
    )
    assert links(text) == [
        'y.md#a-b-c',
        'img/p.png',
        'https://example.com',
        '../r.md',
    ]
    assert anchors(text) == {'a-b-c', 'a-b-c-1'}
    assert slug('RaAM-RVG: 3.2, "Eq. 8"?') == 'raam-rvg-32-eq-8'


def test_markdown_links_point_at_existing_files():
    files = markdown_files()
    assert ROOT / 'README.md' in files
    assert DOCS / 'get_started.md' in files
    broken = []
    for md in files:
        text = md.read_text(encoding='utf-8')
        for target in links(text):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
                continue  # https:, mailto:, ...
            path, _, fragment = target.partition('#')
            dest = (md.parent / path).resolve() if path else md
            where = f'{md.relative_to(ROOT)}: {target}'
            if not dest.exists():
                broken.append(f'{where} (no such file)')
            elif fragment and dest.suffix == '.md':
                names = anchors(dest.read_text(encoding='utf-8'))
                if fragment not in names:
                    broken.append(f'{where} (no such heading)')
    assert not broken, 'broken links:\n' + '\n'.join(broken)


def test_every_note_is_listed():
    index = (DOCS / 'notes' / 'index.md').read_text(encoding='utf-8')
    listed = {Path(t).name for t in links(index) if not t.startswith('http')}
    notes = {
        p.name for p in (DOCS / 'notes').glob('*.md') if p.name != 'index.md'
    }
    assert notes - listed == set(), 'add these to docs/en/notes/index.md'
