"""The project's configs build, their pipelines compose, and one training
step reaches every trainable parameter (DDP needs a gradient for each),
also on a batch of no-target samples only."""

import glob
import os.path as osp

import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import DefaultScope
from test_instalign_ext_head import _with_context

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

CONFIGS = sorted(
    glob.glob(osp.join(osp.dirname(__file__), '..', 'configs', '*.py'))
)


def test_there_are_configs():
    names = {osp.basename(p) for p in CONFIGS}
    assert 'instalign_tiny-r18_1xb8-10e_synthetic-grefcoco_context.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_and_composes(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmgres'
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
        Compose(cfg.test_dataloader.dataset.pipeline)
        Compose(cfg.train_dataloader.dataset.pipeline)
    assert type(model.head).__name__ == 'InstAlignExtHead'


def _params_without_grad(model_cfg, no_target_only):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(model_cfg)
    model.train()
    inputs, samples = demo_grounding_inputs(
        batch_size=2,
        image_shape=(128, 128),
        num_instances=0 if no_target_only else 2,
        no_target_first=True,
    )
    if no_target_only:
        for s in samples:
            s.set_metainfo(dict(no_target=True))
    if model_cfg.head.get('context_instances'):
        _with_context(samples)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    return [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]


@pytest.mark.parametrize('no_target_only', [False, True])
@pytest.mark.parametrize(
    'name',
    [
        'instalign_tiny_1xb8-14e_synthetic-grefcoco_tuned.py',
        'instalign_tiny-r18_1xb8-10e_synthetic-grefcoco_context.py',
    ],
)
def test_every_trainable_param_gets_grad(name, no_target_only):
    path = osp.join(osp.dirname(__file__), '..', 'configs', name)
    cfg = Config.fromfile(path).model
    cfg.train_cfg.num_points = 64
    assert _params_without_grad(cfg, no_target_only) == []
