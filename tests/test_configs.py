"""Every leaf config parses and its model builds offline with random
weights (full-size ones included), and its test and training pipelines
compose."""

import glob

import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)
# Full-size MLLM configs load 7B/13B weights and their tokenizer while
# building (no hub here): tests/test_models/test_grounders/
# test_gsva_configs.py builds them on the meta device from these files.
NEEDS_WEIGHTS = ('configs/gsva/gsva_llava-',)
LEAVES = sorted(
    p
    for p in glob.glob('configs/**/*.py', recursive=True)
    if '_base_' not in p and not p.startswith(NEEDS_WEIGHTS)
)


def test_there_are_leaf_configs():
    assert (
        'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
        in (LEAVES)
    )


@pytest.mark.parametrize('path', LEAVES)
def test_leaf_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmgres'
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
        Compose(cfg.test_dataloader.dataset.pipeline)
        if 'train_dataloader' in cfg:
            train = cfg.train_dataloader.dataset
            # a mixture (ConcatDataset) has a pipeline per part
            for part in train.get('datasets', [train]):
                Compose(part.pipeline)
    assert sum(p.numel() for p in model.parameters()) > 0
