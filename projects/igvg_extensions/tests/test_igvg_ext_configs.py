"""The project's configs: they build, and one training step on the
synthetic benchmark's 128 px images gives every trainable parameter a
gradient (DDP without find_unused_parameters), no-target batches too."""

import glob

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from test_models.igvg_utils import add_context_instances

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs
from projects.igvg_extensions.igvg_extensions import IGVGExtendedHead

CONFIGS = sorted(glob.glob('projects/igvg_extensions/configs/*.py'))


def _step(cfg, no_target_only):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
    model.train()
    inputs, samples = demo_grounding_inputs(
        batch_size=2,
        image_shape=(128, 128),
        num_instances=0 if no_target_only else 2,
        texts=('the red circle on the left', 'all blue squares'),
        no_target_first=True,
    )
    if no_target_only:
        for s in samples:
            s.set_metainfo(dict(no_target=True))
    add_context_instances(samples)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    return model, losses


def test_there_are_the_three_configs():
    assert len(CONFIGS) == 3


@pytest.mark.parametrize('path', CONFIGS)
@pytest.mark.parametrize('no_target_only', [False, True])
def test_config_every_trainable_param_gets_grad(path, no_target_only):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == [
        'projects.conv_stem.conv_stem.beit3',
        'projects.igvg_extensions.igvg_extensions',
    ]
    model, losses = _step(cfg, no_target_only)
    head = model.head
    assert isinstance(head, IGVGExtendedHead)
    assert head.context_instances and head.num_context_classes == 4
    assert head.mask_loss_stride == 4 and head.mask_embed is not None
    assert 'loss_context_cls' in losses
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert missing == []
