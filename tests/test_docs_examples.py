"""Every code example of the README (its ``python`` blocks) and of the
docstrings under ``mmgres/`` (doctest's ``>>>``) runs here.

The examples name files that only exist after training (checkpoints) or
with real data; a workspace provides them: a random-weight checkpoint of the
quickstart's model, generated images and a small synthetic gRefCOCO. The
README's placeholders ``CONFIG`` and ``CHECKPOINT`` are bound to the
quickstart's config and that checkpoint. The code that runs is the
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


def _doctest_modules():
    modules = []
    for path in sorted((ROOT / 'mmgres').rglob('*.py')):
        if '>>>' in path.read_text(encoding='utf-8'):
            modules.append(
                '.'.join(path.relative_to(ROOT).with_suffix('').parts)
            )
    return modules


def _readme_blocks():
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    return re.findall(r'^```python\n(.*?)^```', text, re.M | re.S)


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


@pytest.mark.parametrize('index', range(len(_readme_blocks())))
def test_readme_python_blocks(index, workspace, monkeypatch):
    monkeypatch.chdir(workspace['root'])
    code = _readme_blocks()[index]
    namespace = dict(
        CONFIG=workspace['CONFIG'], CHECKPOINT=workspace['CHECKPOINT']
    )
    exec(compile(code, f'README.md python block {index}', 'exec'), namespace)
