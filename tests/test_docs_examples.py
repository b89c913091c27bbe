"""Every code example of the README and of the user guides (their
``python`` blocks) and of the docstrings under ``mmgres/`` (doctest's
``>>>``) runs here.

The examples name files that only exist after training (checkpoints) or
with real data; a workspace provides them: a random-weight checkpoint of the
quickstart's model, generated images and a small synthetic gRefCOCO. The
docs' placeholders ``CONFIG`` and ``CHECKPOINT`` are bound to the
quickstart's config and that checkpoint. The blocks of one page run in
order in one namespace, as a reader runs them. A block that a CPU cannot run
is preceded by ``<!-- skip-test: REASON -->``. The code that runs is the
examples' own, ``+SKIP`` lines included.
"""

import doctest
import importlib
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART_CONFIG = ROOT / (
    'projects/instalign_extensions/configs/'
    'instalign_tiny-r18_1xb8-10e_synthetic-grefcoco_context.py'
)
TINY_CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


def _doctest_modules():
    modules = []
    for path in sorted((ROOT / 'mmgres').rglob('*.py')):
        if '>>>' in path.read_text(encoding='utf-8'):
            modules.append(
                '.'.join(path.relative_to(ROOT).with_suffix('').parts)
            )
    return modules


DOC_PAGES = ['README.md'] + sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / 'docs' / 'en' / 'user_guides').glob('*.md')
)
# a python fence, and the comment right before it (blank lines between)
BLOCK = re.compile(
    r'(?:^<!--\s*skip-test:(?P<skip>.*?)-->\s*\n(?:[ \t]*\n)*)?'
    r'^```python\n(?P<code>.*?)^```',
    re.M | re.S,
)


def _python_blocks(page):
    """(line, code, skip reason or None) of each python block of a page."""
    text = (ROOT / page).read_text(encoding='utf-8')
    blocks = []
    for m in BLOCK.finditer(text):
        line = text.count('\n', 0, m.start('code')) + 1
        skip = m.group('skip')
        blocks.append((line, m.group('code'), skip and skip.strip()))
    return blocks


def _readme_blocks():
    return [code for _, code, _ in _python_blocks('README.md')]


def _scene(path: Path):
    img = np.full((96, 128, 3), 220, np.uint8)
    cv2.circle(img, (30, 40), 12, (0, 0, 255), -1)
    cv2.circle(img, (70, 40), 12, (0, 0, 255), -1)
    pts = np.array([[100, 80], [120, 80], [110, 60]], np.int32)
    cv2.fillPoly(img, [pts], (255, 0, 0))
    cv2.imwrite(str(path), img)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """The files the examples name, relative to the working directory."""
    from mmengine.logging import MMLogger

    from mmgres.datasets.synthetic.generator import (
        generate_synthetic_grefcoco,
    )
    from mmgres.testing import save_random_checkpoint

    # created now, so that its log lines do not go into doctest's output
    MMLogger.get_current_instance()
    root = tmp_path_factory.mktemp('docs')
    ckpt = root / 'work_dirs' / 'quickstart' / 'epoch_10.pth'
    ckpt.parent.mkdir(parents=True)
    save_random_checkpoint(str(QUICKSTART_CONFIG), ckpt)
    # the model-index name of the docstrings: the core tiny InstAlign
    tiny = root / 'work_dirs' / 'instalign_tiny' / 'epoch_8.pth'
    tiny.parent.mkdir(parents=True)
    save_random_checkpoint(str(ROOT / TINY_CONFIG), tiny)
    for name in ('demo.jpg', 'scene.jpg'):
        _scene(root / name)
    data = root / 'data' / 'grefcoco'
    generate_synthetic_grefcoco(
        str(data), num_images={'val': 2}, img_size=64, progress=False
    )
    # the layout of the real gRefCOCO, whose images are COCO's train2014
    (data / 'images' / 'train2014').mkdir()
    for img in (data / 'images').glob('*.jpg'):
        shutil.move(str(img), str(data / 'images' / 'train2014' / img.name))
    return dict(root=root, CONFIG=str(QUICKSTART_CONFIG), CHECKPOINT=str(ckpt))


def test_examples_are_found():
    modules = _doctest_modules()
    assert 'mmgres.apis.inferencer' in modules
    assert len(modules) >= 10
    assert any('GroundingInferencer' in b for b in _readme_blocks())
    assert 'docs/en/user_guides/inference.md' in DOC_PAGES
    inference = _python_blocks('docs/en/user_guides/inference.md')
    assert any('DetInferencer' in code for _, code, _ in inference)


def test_skip_marker_is_recognised():
    text = (
        'a\n<!-- skip-test: needs CUDA -->\n\n```python\nx = 1\n```\n'
        '```python\ny = 2\n```\n'
    )
    found = [(m.group('skip'), m.group('code')) for m in BLOCK.finditer(text)]
    assert found == [(' needs CUDA ', 'x = 1\n'), (None, 'y = 2\n')]


@pytest.mark.parametrize('module', _doctest_modules())
def test_docstring_examples(module, workspace, monkeypatch):
    monkeypatch.chdir(workspace['root'])
    mod = importlib.import_module(module)
    tests = [t for t in doctest.DocTestFinder().find(mod) if t.examples]
    assert tests, f'{module} has ">>>" but doctest finds no example'
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    for test in tests:
        for example in test.examples:
            example.options.pop(doctest.SKIP, None)  # every line runs
        runner.run(test, out=report.append)
    assert runner.failures == 0, ''.join(report)


@pytest.mark.parametrize('page', [p for p in DOC_PAGES if _python_blocks(p)])
def test_doc_python_blocks(page, workspace, monkeypatch):
    monkeypatch.chdir(workspace['root'])
    namespace = dict(
        CONFIG=workspace['CONFIG'], CHECKPOINT=workspace['CHECKPOINT']
    )
    ran = 0
    for line, code, skip in _python_blocks(page):
        if skip is not None:
            assert skip, f'{page}:{line}: skip-test needs a reason'
            continue
        # compiled with the page's line numbers, so a traceback points there
        padded = '\n' * (line - 1) + code
        exec(compile(padded, page, 'exec'), namespace)
        ran += 1
    assert ran, f'{page}: every python block is skipped'
