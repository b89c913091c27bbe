# Copyright (c) mmgres contributors. All rights reserved.
"""A checkpoint of a config's model with random weights, as
``tools/train.py`` would write it: for the tests and the analysis tools,
since mmgres hosts no weights."""

from typing import Dict

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope


def save_random_checkpoint(
    config: str, path: str, seed: int = 0
) -> Dict[str, torch.Tensor]:
    """Build ``config``'s model with seed ``seed``, save it to ``path``.

    Returns:
        dict[str, Tensor]: The saved state dict.
    """
    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmgres'):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
    state_dict = model.state_dict()
    torch.save(
        dict(
            state_dict=state_dict,
            meta=dict(dataset_meta=dict(classes=('object',))),
        ),
        str(path),
    )
    return state_dict
