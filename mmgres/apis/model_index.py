# Copyright (c) mmgres contributors. All rights reserved.
"""Model names of ``model-index.yml`` and the configs they stand for."""

import difflib
import os.path as osp
import re
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.infer import BaseInferencer


def model_index_root() -> str:
    """The folder that holds ``model-index.yml`` and ``configs/``.

    It is the source tree for an editable install and ``mmgres/.mim``
    for an installed package, as for the OpenMMLab packages.
    """
    return BaseInferencer._get_repo_or_mim_dir('mmgres')


def iter_models(root: Optional[str] = None) -> Iterator[Dict]:
    """The ``Models`` entries of every ``metafile.yml`` that
    ``model-index.yml`` imports."""
    root = root or model_index_root()
    yield from BaseInferencer._get_models_from_metafile(root)


def _names(model: Dict) -> List[str]:
    aliases = model.get('Alias', [])
    if isinstance(aliases, str):
        aliases = [aliases]
    return [model['Name'], *aliases]


def list_models(patterns: str = r'.*') -> List[str]:
    """Names and aliases in ``model-index.yml`` that match ``patterns``
    (a regular expression, matched at the start of the name)."""
    return [
        name
        for model in iter_models()
        for name in _names(model)
        if re.match(patterns, name)
    ]


CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.bin', '.safetensors')


def find_model(name: str) -> Tuple[str, Optional[str]]:
    """The config file and weights of a model name or alias.

    Names are matched case-insensitively, as mmengine does. mmgres hosts no
    checkpoints: an entry's ``Weights`` points at the guide to converting
    the official weights (a document, not a checkpoint), so the weights
    returned are None unless ``Weights`` names a checkpoint file.

    Args:
        name (str): A ``Name`` or ``Alias`` of a ``metafile.yml`` entry.

    Returns:
        tuple[str, str | None]: The config path and the weights.

    Raises:
        ValueError: No entry has that name; the message lists the closest
            names.
        FileNotFoundError: The entry names a config that does not exist.
    """
    root = model_index_root()
    known = []
    for model in iter_models(root):
        names = _names(model)
        known.extend(names)
        if name.lower() not in (n.lower() for n in names):
            continue
        config = osp.join(root, model['Config'])
        if not osp.isfile(config):
            raise FileNotFoundError(
                f'Model {name!r} names the config {model["Config"]!r}, '
                f'which is not in {root}.'
            )
        weights = model.get('Weights')
        if isinstance(weights, (list, tuple)):
            weights = weights[0] if weights else None
        if weights is not None and not str(weights).endswith(
            CHECKPOINT_SUFFIXES
        ):
            weights = None  # the conversion guide
        return config, weights
    lower = {n.lower(): n for n in known}
    close = [
        lower[n]
        for n in difflib.get_close_matches(name.lower(), lower, 5, 0.4)
    ]
    hint = (
        'Close matches: ' + ', '.join(close) + '.'
        if close
        else 'GroundingInferencer.list_models() lists the names.'
    )
    raise ValueError(
        f'{name!r} is neither a config file nor a model name of mmgres '
        f'(model-index.yml). {hint}'
    )
