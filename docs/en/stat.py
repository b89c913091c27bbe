#!/usr/bin/env python
# Copyright (c) mmgres contributors. All rights reserved.
"""Write the table of ``docs/en/model_zoo.md`` from the metafiles.

    python docs/en/stat.py          # rewrite the table in place
    python docs/en/stat.py --check  # exit 1 if the table is out of date

One row per result of every model of every ``metafile.yml`` that
``model-index.yml`` imports (a model without results gets one row), in the
order of ``MODELS``. A result on a synthetic dataset is ours; any other is
published (the paper's, or the release's README for a ``_release`` config).
The table sits between the two ``TABLE_*`` markers of the page.
"""

import argparse
import os.path as osp
import sys

import yaml

DOCS = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(DOCS))
PAGE = osp.join(DOCS, 'model_zoo.md')
MODELS = ['instalign', 'igvg', 'raam', 'gsva']
TABLE_START = '<!-- model table: written by docs/en/stat.py -->'
TABLE_END = '<!-- end of model table -->'
TASKS = {
    'Generalized Referring Expression Segmentation': 'GRES',
    'Generalized Referring Expression Comprehension': 'GREC',
    'Referring Expression Segmentation': 'RES',
    'Referring Expression Comprehension': 'REC',
    'Robust Referring Expression Segmentation': 'R-RES',
}


def _link(text: str, path: str) -> str:
    """A link from ``docs/en`` to a repository path (``#anchor`` kept)."""
    path, _, anchor = path.partition('#')
    rel = osp.relpath(osp.join(ROOT, path), DOCS).replace(osp.sep, '/')
    return f'[{text}]({rel}{"#" + anchor if anchor else ""})'


def _metafiles() -> list:
    with open(osp.join(ROOT, 'model-index.yml'), encoding='utf-8') as f:
        imports = yaml.safe_load(f)['Import']

    def order(path):
        folder = path.split('/')[1]
        return MODELS.index(folder) if folder in MODELS else len(MODELS)

    return sorted(imports, key=order)


def table_rows() -> list:
    rows = []
    for metafile in _metafiles():
        with open(osp.join(ROOT, metafile), encoding='utf-8') as f:
            meta = yaml.safe_load(f)
        collections = {c['Name']: c for c in meta.get('Collections', [])}
        for model in meta.get('Models', []):
            collection = collections.get(model['In Collection'], {})
            name = model['In Collection']
            if collection.get('README'):
                name = _link(name, collection['README'])
            config = model['Config']
            config_link = _link(osp.basename(config)[: -len('.py')], config)
            weights = model.get('Weights')
            weights_link = (
                _link('conversion guide', weights) if weights else '–'
            )
            converts = 'converts' if weights else '–'
            results = model.get('Results') or []
            if not results:
                data = (model.get('Metadata') or {}).get('Training Data') or (
                    collection.get('Metadata') or {}
                ).get('Training Data')
                if isinstance(data, list):
                    data = ', '.join(data)
                rows.append(
                    [name, str(data), '–', '–', converts]
                    + [config_link, weights_link]
                )
                continue
            for result in results:
                metrics = ', '.join(
                    f'{k} {v}' for k, v in result['Metrics'].items()
                )
                ours = 'synthetic' in result['Dataset'].lower()
                published = '–' if ours else metrics
                if not ours and config.endswith('_release.py'):
                    published = f'release: {metrics}'
                rows.append(
                    [
                        name,
                        result['Dataset'],
                        TASKS.get(result['Task'], result['Task']),
                        published,
                        metrics if ours else converts,
                        config_link,
                        weights_link,
                    ]
                )
    return rows


def table() -> str:
    lines = [
        '| model | dataset | task | published | ours | config | weights |',
        '| --- | --- | --- | --- | --- | --- | --- |',
    ]
    lines += ['| ' + ' | '.join(row) + ' |' for row in table_rows()]
    return '\n'.join(lines)


def render(page: str) -> str:
    """``page`` with the text between the markers replaced by the table."""
    head, sep, rest = page.partition(TABLE_START)
    _, sep2, tail = rest.partition(TABLE_END)
    if not sep or not sep2:
        raise ValueError(f'{PAGE} lacks the table markers')
    return f'{head}{TABLE_START}\n\n{table()}\n\n{TABLE_END}{tail}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--check', action='store_true', help='exit 1 if the page is stale'
    )
    args = parser.parse_args()
    with open(PAGE, encoding='utf-8') as f:
        page = f.read()
    new = render(page)
    if args.check:
        if new != page:
            print(f'{PAGE} is out of date: run python docs/en/stat.py')
            return 1
        return 0
    with open(PAGE, 'w', encoding='utf-8') as f:
        f.write(new)
    return 0


if __name__ == '__main__':
    sys.exit(main())
