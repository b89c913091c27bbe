"""The configs, the metafiles and the model index agree, in mmdet's form.

- every config (``configs/`` and ``projects/*/configs``) resolves with
  ``Config.fromfile``, and every leaf config inherits at most 3 levels
  deep (the leaf is level 1, each ``_base_`` hop adds one);
- every leaf config of ``configs/<model>/`` (``ablations/`` included) has
  an entry in ``configs/<model>/metafile.yml``, and every entry names an
  existing config of that folder (project configs are outside the model
  index, as in mmdet);
- the metafiles follow mmdet's schema, ``model-index.yml`` imports the four
  of them, ``mim search mmgres`` lists every model, and
  ``docs/en/model_zoo.md`` shows the metafiles' current content.
"""

import importlib.util
import os.path as osp
import re
import subprocess
import sys
from glob import glob

import pytest
import yaml
from mmengine.config import Config
from mmengine.utils import get_installed_path
from tool_utils import tool_env

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS = ('instalign', 'igvg', 'raam', 'gsva')
MAX_DEPTH = 3


def _rel(path):
    return osp.relpath(path, ROOT).replace(osp.sep, '/')


def _leaves(pattern):
    return sorted(
        _rel(p)
        for p in glob(osp.join(ROOT, pattern), recursive=True)
        if '/_base_/' not in _rel(p) and osp.basename(p) != '__init__.py'
    )


CORE_LEAVES = _leaves('configs/**/*.py')
PROJECT_LEAVES = _leaves('projects/*/configs/**/*.py')
ALL_CONFIGS = (
    sorted(
        _rel(p)
        for p in glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True)
    )
    + PROJECT_LEAVES
)


def _metafile(model):
    with open(osp.join(ROOT, 'configs', model, 'metafile.yml')) as f:
        return yaml.safe_load(f)


def _base_path(base, child):
    """The file a ``_base_`` entry of ``child`` names."""
    if '::' in base:  # another package's config, e.g. mmdet::
        package, path = base.split('::', 1)
        return osp.join(get_installed_path(package), '.mim', 'configs', path)
    return osp.normpath(osp.join(osp.dirname(child), base))


def inheritance_depth(path, _seen=()):
    """1 for a config without ``_base_``; 1 + its deepest base otherwise."""
    assert path not in _seen, f'circular _base_: {path}'
    bases = Config._get_base_files(path)
    return 1 + max(
        (
            inheritance_depth(_base_path(b, path), (*_seen, path))
            for b in bases
        ),
        default=0,
    )


def test_inheritance_depth(tmp_path):
    (tmp_path / 'a.py').write_text('x = 1\n')
    (tmp_path / 'b.py').write_text("_base_ = './a.py'\n")
    (tmp_path / 'c.py').write_text("_base_ = ['./b.py', './a.py']\n")
    assert inheritance_depth(str(tmp_path / 'a.py')) == 1
    assert inheritance_depth(str(tmp_path / 'b.py')) == 2
    assert inheritance_depth(str(tmp_path / 'c.py')) == 3


def test_there_are_configs():
    assert 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py' in (
        CORE_LEAVES
    )
    assert PROJECT_LEAVES
    assert 'configs/_base_/default_runtime.py' in ALL_CONFIGS


@pytest.mark.parametrize('path', ALL_CONFIGS)
def test_config_resolves(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    if '/_base_/' not in path:
        assert cfg.get('default_scope') == 'mmgres', path


@pytest.mark.parametrize('path', CORE_LEAVES + PROJECT_LEAVES)
def test_leaf_config_is_at_most_3_levels_deep(path):
    depth = inheritance_depth(osp.join(ROOT, path))
    assert depth <= MAX_DEPTH, (
        f'{path} inherits {depth} levels deep (at most {MAX_DEPTH}: model, '
        'dataset, schedule and runtime bases, then the leaf)'
    )


@pytest.mark.parametrize('model', MODELS)
def test_every_config_has_a_metafile_entry(model):
    entries = [m['Config'] for m in _metafile(model).get('Models') or []]
    leaves = [p for p in CORE_LEAVES if p.startswith(f'configs/{model}/')]
    assert leaves
    missing = sorted(set(leaves) - set(entries))
    assert not missing, f'configs without a metafile entry: {missing}'
    outside = [c for c in entries if not c.startswith(f'configs/{model}/')]
    assert not outside, f'entries outside configs/{model}/: {outside}'
    absent = [c for c in entries if not osp.isfile(osp.join(ROOT, c))]
    assert not absent, f'entries naming no file: {absent}'


def _missing(d, keys):
    return [k for k in keys if not (isinstance(d, dict) and d.get(k))]


@pytest.mark.parametrize('model', MODELS)
def test_metafile_schema(model):
    meta = _metafile(model)
    problems = []
    collections = meta.get('Collections') or []
    assert collections, 'no Collections'
    for c in collections:
        where = f'Collection {c.get("Name")}'
        keys = ['Name', 'Metadata', 'Paper', 'README', 'Code']
        problems += [f'{where}: no {k}' for k in _missing(c, keys)]
        paper = c.get('Paper')
        problems += [
            f'{where}: no Paper.{k}' for k in _missing(paper, ['Title', 'URL'])
        ]
        url = (paper or {}).get('URL') or ''
        if url and not re.match(r'https?://', url):
            problems.append(f'{where}: Paper.URL is not a public link')
        if c.get('README') and not osp.isfile(osp.join(ROOT, c['README'])):
            problems.append(f'{where}: README {c["README"]} does not exist')
        problems += [
            f'{where}: no Code.URL' for _ in _missing(c.get('Code'), ['URL'])
        ]
    names = {c.get('Name') for c in collections}
    models = meta.get('Models') or []
    assert models, 'no Models'
    for m in models:
        where = f'Model {m.get("Name")}'
        keys = ['Name', 'In Collection', 'Config', 'Metadata', 'Results']
        problems += [f'{where}: no {k}' for k in _missing(m, keys)]
        if m.get('In Collection') not in names:
            problems.append(f'{where}: unknown collection')
        problems += [
            f'{where}: no Metadata.{k}'
            for k in _missing(m.get('Metadata'), ['Training Data'])
        ]
        for r in m.get('Results') or []:
            problems += [
                f'{where}: a result without {k}'
                for k in _missing(r, ['Task', 'Dataset', 'Metrics'])
            ]
        weights = str(m.get('Weights') or '').split('#')[0]
        if weights and not weights.startswith('http'):
            if not osp.isfile(osp.join(ROOT, weights)):
                problems.append(f'{where}: Weights {weights} does not exist')
    assert not problems, '\n'.join(problems)


def test_model_names_are_unique():
    names = [
        m['Name'].lower()
        for model in MODELS
        for m in _metafile(model).get('Models') or []
    ]
    assert len(names) == len(set(names)), sorted(
        n for n in set(names) if names.count(n) > 1
    )


def test_model_index_imports_the_metafiles():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert sorted(index['Import']) == sorted(
        f'configs/{m}/metafile.yml' for m in MODELS
    )


def test_mim_search_lists_every_model():
    """mim reads ``mmgres/.mim/model-index.yml`` of the installed package
    (``setup.py`` links it there), as for mmdet."""
    proc = subprocess.run(
        ['mim', 'search', 'mmgres', '--display-width', '200'],
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    listed = set(re.findall(r'^config id: (\S+)', proc.stdout, re.M))
    names = {
        m['Name'].lower()
        for model in MODELS
        for m in _metafile(model).get('Models') or []
    }
    assert names
    missing = sorted(names - {n.lower() for n in listed})
    assert not missing, f'mim search mmgres does not list {missing}'


def test_model_zoo_table_is_current():
    spec = importlib.util.spec_from_file_location(
        'docs_stat', osp.join(ROOT, 'docs', 'en', 'stat.py')
    )
    stat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stat)
    with open(stat.PAGE, encoding='utf-8') as f:
        page = f.read()
    assert stat.render(page) == page, (
        'docs/en/model_zoo.md is out of date: run python docs/en/stat.py'
    )


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))
