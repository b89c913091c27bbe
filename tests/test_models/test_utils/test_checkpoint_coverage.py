"""A checkpoint that fills too little of a grounder is an error, in every
way mmengine loads one; partial loads are an explicit option, and a
sub-module's ``Pretrained`` init_cfg is unaffected."""

import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint

from mmgres.models.grounders import BaseGrounder
from mmgres.models.utils.checkpoint_coverage import (
    CheckpointMismatchError,
    checkpoint_coverage,
    format_prefixes,
    key_prefix,
    set_allow_partial_load,
)
from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

from ..instalign_utils import tiny_instalign_cfg
from ..raam_utils import tiny_raam_cfg

LOGGER = 'test_checkpoint_coverage'

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def strict_by_default(monkeypatch):
    # set_allow_partial_load() changes the class default; undo it per test
    monkeypatch.setattr(BaseGrounder, 'allow_partial_load', False)


def _build(cfg, seed=0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def raam_cfg():
    return tiny_raam_cfg()


@pytest.fixture
def raam(raam_cfg):
    return _build(raam_cfg)


def _save(path, state_dict):
    torch.save(dict(state_dict=state_dict, meta=dict()), str(path))
    return str(path)


@pytest.fixture(scope='module')
def instalign_ckpt(tmp_path_factory):
    model = _build(tiny_instalign_cfg())
    path = tmp_path_factory.mktemp('ckpt') / 'instalign.pth'
    return _save(path, model.state_dict())


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged():
    logger = MMLogger.get_instance(LOGGER)
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _check_message(msg):
    assert 'fills' in msg and 'RaAMRVG' in msg
    # the unmatched prefixes of both sides, with counts
    model_line = next(x for x in msg.splitlines() if x.startswith('Model'))
    ckpt_line = next(x for x in msg.splitlines() if x.startswith('Checkp'))
    assert 'backbone.vision' in model_line and 'head.' in model_line
    assert 'backbone.stages' in ckpt_line and 'head.' in ckpt_line
    assert 'backbone.vision' not in ckpt_line
    assert 'tools/model_converters/' in msg
    assert '--allow-partial-load' in msg


def test_other_model_fails_with_load_checkpoint(raam, instalign_ckpt):
    before = _snapshot(raam)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(raam, instalign_ckpt, map_location='cpu')
    _check_message(str(info.value))
    # nothing was copied before the error
    _assert_unchanged(raam, before)


def test_other_model_fails_with_runner_load_checkpoint(
    raam, instalign_ckpt, tmp_path
):
    runner = Runner(
        model=raam,
        work_dir=str(tmp_path),
        experiment_name='coverage_runner',
    )
    with pytest.raises(CheckpointMismatchError) as info:
        runner.load_checkpoint(instalign_ckpt)
    _check_message(str(info.value))


def test_other_model_fails_inside_tta_wrapper(raam, instalign_ckpt):
    with DefaultScope.overwrite_default_scope('mmgres'):
        tta = MODELS.build(dict(type='GroundingTTAModel', module=raam))
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(tta, instalign_ckpt, map_location='cpu')


def test_other_model_fails_in_inferencer(instalign_ckpt):
    from mmgres.apis import GroundingInferencer

    config = 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py'
    with pytest.raises(CheckpointMismatchError, match='of RaAMRVG'):
        GroundingInferencer(config, weights=instalign_ckpt, device='cpu')
    inferencer = GroundingInferencer(
        config,
        weights=instalign_ckpt,
        device='cpu',
        allow_partial_load=True,
    )
    assert inferencer.model.allow_partial_load


def test_partial_load_option(
    raam, raam_cfg, instalign_ckpt, tmp_path, warnings_logged
):
    before = _snapshot(raam)
    set_allow_partial_load(model=raam)
    load_checkpoint(raam, instalign_ckpt, map_location='cpu', logger=LOGGER)
    assert any('do not match exactly' in m for m in warnings_logged)
    _assert_unchanged(raam, before)  # no key of the same shape

    # a third of the model's own keys: loaded with the option only
    keys = list(before)[: len(before) // 3]
    path = _save(tmp_path / 'third.pth', {k: before[k] for k in keys})
    other = _build(raam_cfg, seed=1)
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(other, path, map_location='cpu')
    # the process-wide default, as the tools' --allow-partial-load sets it
    set_allow_partial_load()
    load_checkpoint(other, path, map_location='cpu')
    for key in keys:
        assert torch.equal(other.state_dict()[key], before[key]), key


def test_full_checkpoint_of_same_model_loads(
    raam, raam_cfg, tmp_path, warnings_logged
):
    path = _save(tmp_path / 'raam.pth', raam.state_dict())
    other = _build(raam_cfg, seed=1)
    load_checkpoint(other, path, map_location='cpu', logger=LOGGER)
    for key, value in raam.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    assert warnings_logged == []


def test_sixty_percent_loads_with_mmengine_warning(
    raam, raam_cfg, tmp_path, warnings_logged
):
    state = raam.state_dict()
    keys = [k for k in state if not k.endswith('num_batches_tracked')]
    kept = keys[: int(0.6 * len(keys)) + 1]
    path = _save(tmp_path / 'part.pth', {k: state[k] for k in kept})
    other = _build(raam_cfg, seed=1)
    load_checkpoint(other, path, map_location='cpu', logger=LOGGER)
    for key in kept:
        assert torch.equal(other.state_dict()[key], state[key]), key
    assert any('missing keys in source' in m for m in warnings_logged)


def test_shape_mismatches_count_as_unfilled(raam, raam_cfg, tmp_path):
    state = raam.state_dict()
    keys = [k for k in state if not k.endswith('num_batches_tracked')]
    bad = set(keys[: int(0.6 * len(keys))])
    changed = {
        k: torch.zeros(v.numel() + 1) if k in bad else v
        for k, v in state.items()
    }
    path = _save(tmp_path / 'shapes.pth', changed)
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(_build(raam_cfg), path, map_location='cpu')
    msg = str(info.value)
    assert 'Entries of another shape' in msg
    assert f'fills {len(keys) - len(bad)} of the {len(keys)}' in msg


def test_checkpoint_without_frozen_parameters_loads(raam, raam_cfg, tmp_path):
    """Like DeepSpeed's exclude_frozen_parameters: the checkpoint holds the
    trained parameters only, fewer than half of the entries."""

    def freeze(model):
        for module in (model.backbone, model.text_encoder):
            module.requires_grad_(False)
        return model

    trained = [
        k
        for k, v in freeze(raam).state_dict(keep_vars=True).items()
        if not isinstance(v, torch.nn.Parameter) or v.requires_grad
    ]
    assert len(trained) < 0.5 * len(raam.state_dict())
    state = raam.state_dict()
    path = _save(tmp_path / 'trained.pth', {k: state[k] for k in trained})
    other = freeze(_build(raam_cfg, seed=1))
    load_checkpoint(other, path, map_location='cpu')
    for key in trained:
        assert torch.equal(other.state_dict()[key], state[key]), key
    # the same file into a model that trains everything is too little
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(_build(raam_cfg), path, map_location='cpu')


def test_backbone_pretrained_init_cfg_is_unaffected(raam, raam_cfg, tmp_path):
    vision = raam.backbone.vision.state_dict()
    path = _save(tmp_path / 'vit.pth', vision)
    cfg = raam_cfg.copy()
    cfg.backbone.vision.init_cfg = dict(type='Pretrained', checkpoint=path)
    model = _build(cfg, seed=1)
    for key, value in vision.items():
        assert torch.equal(model.backbone.vision.state_dict()[key], value)


def test_key_prefix_and_coverage():
    assert key_prefix('head.decoder.layers.3.attn.weight') == (
        'head.decoder.layers'
    )
    assert key_prefix('text_encoder.model.embeddings.word.weight') == (
        'text_encoder.model.embeddings'
    )
    assert key_prefix('query_feat.weight') == 'query_feat'
    assert key_prefix('level_embed') == 'level_embed'
    assert format_prefixes(['a.b.0.w', 'a.b.1.w', 'c.w'], limit=1) == (
        'a.b (2), and 1 more prefixes'
    )
    model = {
        'a.w': torch.zeros(2),
        'b.w': torch.zeros(3),
        'bn.num_batches_tracked': torch.zeros(()),
        'c': torch.zeros(()),
    }
    ckpt = {'a.w': torch.ones(2), 'b.w': torch.ones(4), 'c': torch.ones(1)}
    cov = checkpoint_coverage(model, dict(ckpt, x=torch.ones(1)))
    assert cov['matched'] == ['a.w', 'c']
    assert cov['mismatched'] == [('b.w', (3,), (4,))]
    assert cov['unexpected'] == ['x'] and cov['total'] == 3

    # a DeepSpeed ZeRO-3 partitioned parameter: its shape is in ds_shape
    part = torch.nn.Parameter(torch.empty(0))
    part.ds_shape = torch.Size([2])
    frozen = torch.nn.Parameter(torch.zeros(5), requires_grad=False)
    cov = checkpoint_coverage(dict(a=part, f=frozen), dict(a=torch.ones(2)))
    assert cov['matched'] == ['a'] and cov['total'] == 1
