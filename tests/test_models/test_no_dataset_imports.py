"""Model code does not import dataset code: a model names its tokenizer
through the ``TOKENIZER`` registry (e.g. ``'SyntheticWordPieceTokenizer'``,
registered by the synthetic dataset package), never by importing it."""

import ast
import os.path as osp
from pathlib import Path

import mmgres

ROOT = Path(osp.dirname(mmgres.__file__)).parent


def _imported_modules(path: Path):
    """Absolute names of the modules a file imports (relative imports
    resolved against the file's package)."""
    package = path.relative_to(ROOT).with_suffix('').parts[:-1]
    if path.name == '__init__.py':
        package = path.relative_to(ROOT).parent.parts
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1])
            if node.level == 0:
                base = []
            module = '.'.join(base + ([node.module] if node.module else []))
            yield module
            yield from (f'{module}.{alias.name}' for alias in node.names)


def test_imported_modules_resolves_relative_imports():
    # sanity of the helper on the code it checks: backbones/beit3.py
    # imports .beit3_utils, i.e. mmgres.models.backbones.beit3_utils
    beit3 = ROOT / 'mmgres' / 'models' / 'backbones' / 'beit3.py'
    assert 'mmgres.models.backbones.beit3_utils' in set(
        _imported_modules(beit3)
    )
    grounders = ROOT / 'mmgres' / 'models' / 'grounders' / '__init__.py'
    assert 'mmgres.models.grounders.igvg' in set(_imported_modules(grounders))


def test_no_model_module_imports_datasets():
    files = sorted((ROOT / 'mmgres' / 'models').rglob('*.py'))
    assert len(files) > 50
    offenders = {
        str(path.relative_to(ROOT)): name
        for path in files
        for name in _imported_modules(path)
        if name == 'mmgres.datasets' or name.startswith('mmgres.datasets.')
    }
    assert offenders == {}
