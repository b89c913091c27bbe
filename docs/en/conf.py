# Copyright (c) mmgres contributors. All rights reserved.
"""Sphinx configuration of the English docs (Markdown through MyST).

    pip install -r requirements/docs.txt
    sphinx-build -W -b html docs/en docs/en/_build/html

The pages link files of the repository outside ``docs/en`` (configs,
READMEs, tools) by relative paths, so that they work on the code host and
in an editor. Sphinx cannot resolve those; such a link whose target exists
becomes a link to ``repo_url`` (set ``MMGRES_REPO_URL``, e.g. the
repository's ``.../blob/main/`` URL) or, without one, plain text. A link to
a path that does not exist is still an error under ``-W``.
"""

import os
import os.path as osp

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))


def _version():
    # mmgres/version.py alone: importing mmgres would import torch
    scope = {}
    with open(osp.join(REPO, 'mmgres', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'mmgres/version.py', 'exec'), scope)
    return scope['__version__']


project = 'mmgres'
copyright = 'mmgres contributors'
author = 'mmgres contributors'
version = release = _version()

extensions = ['myst_parser', 'sphinx_copybutton']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']
# `#section` anchors of Markdown links, as GitHub makes them
myst_heading_anchors = 4
myst_enable_extensions = ['colon_fence']

html_theme = 'furo'
html_title = f'mmgres {version}'
copybutton_prompt_text = r'\$ '
copybutton_prompt_is_regexp = True

repo_url = os.environ.get('MMGRES_REPO_URL', '').rstrip('/')


class RepositoryLinks(SphinxTransform):
    """Links from a page to existing repository files outside the docs."""

    default_priority = 100

    def apply(self, **kwargs):
        source_dir = osp.dirname(self.env.doc2path(self.env.docname))
        for node in list(
            self.document.findall(
                lambda n: (
                    isinstance(
                        n, (addnodes.pending_xref, addnodes.download_reference)
                    )
                    and n.get('reftype') == 'myst'
                )
            )
        ):
            target = node['reftarget'].split('#', 1)[0]
            if not target or '://' in target:
                continue
            if node.get('refdomain') == 'doc':
                # MyST names a Markdown file outside the docs by its
                # absolute path without the suffix
                if not osp.isabs(target):
                    continue
                target = next(
                    (
                        target + suffix
                        for suffix in source_suffix
                        if osp.isfile(target + suffix)
                    ),
                    target,
                )
            path = osp.normpath(osp.join(source_dir, target))
            inside_docs = path == HERE or path.startswith(HERE + os.sep)
            inside_repo = path.startswith(REPO + os.sep)
            if inside_docs or not inside_repo or not osp.exists(path):
                continue  # Sphinx/MyST resolve it, or warn
            text = node.astext()
            if repo_url:
                rel = osp.relpath(path, REPO).replace(os.sep, '/')
                new = nodes.reference(text, text, refuri=f'{repo_url}/{rel}')
            else:
                new = nodes.inline(text, text)
            node.replace_self(new)


def setup(app):
    app.add_transform(RepositoryLinks)
