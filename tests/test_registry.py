"""mmgres registries: children of mmdet's, scope 'mmgres'."""

import pytest
from mmengine.registry import DefaultScope

import mmgres.registry as R
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)


@pytest.mark.parametrize(
    'name',
    [
        'RUNNERS',
        'RUNNER_CONSTRUCTORS',
        'LOOPS',
        'HOOKS',
        'DATASETS',
        'DATA_SAMPLERS',
        'TRANSFORMS',
        'MODELS',
        'MODEL_WRAPPERS',
        'WEIGHT_INITIALIZERS',
        'OPTIMIZERS',
        'OPTIM_WRAPPERS',
        'OPTIM_WRAPPER_CONSTRUCTORS',
        'PARAM_SCHEDULERS',
        'METRICS',
        'EVALUATOR',
        'TASK_UTILS',
        'VISUALIZERS',
        'VISBACKENDS',
        'LOG_PROCESSORS',
    ],
)
def test_child_of_mmdet(name):
    import mmdet.registry as D

    child = getattr(R, name)
    assert child.scope == 'mmgres'
    assert child.parent is getattr(D, name)


def _build_in_mmgres(registry, cfg):
    with DefaultScope.overwrite_default_scope('mmgres'):
        return registry.build(cfg)


def test_mmdet_and_mmseg_types_build_from_mmgres_scope():
    from mmdet.models.losses import DiceLoss as MMDetDice
    from mmseg.models.losses import DiceLoss as MMSegDice

    # an mmdet type by its plain name, an mmseg one by its scope prefix
    assert type(_build_in_mmgres(R.MODELS, dict(type='DiceLoss'))) is MMDetDice
    assert (
        type(_build_in_mmgres(R.MODELS, dict(type='mmseg.DiceLoss')))
        is MMSegDice
    )
    pre = _build_in_mmgres(
        R.MODELS,
        dict(type='mmseg.SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1]),
    )
    assert type(pre).__module__.startswith('mmseg')
    # the explicit mmdet prefix works too
    t = _build_in_mmgres(R.TRANSFORMS, dict(type='mmdet.PackDetInputs'))
    assert type(t).__module__.startswith('mmdet')


def test_mmgres_type_overrides_mmdet_type_of_same_name():
    from mmdet.datasets.transforms import PackDetInputs as MMDetPack

    @R.TRANSFORMS.register_module(name='PackDetInputs')
    class OurPack(MMDetPack):
        pass

    try:
        assert (
            type(_build_in_mmgres(R.TRANSFORMS, dict(type='PackDetInputs')))
            is OurPack
        )
        # mmdet's scope still gets mmdet's
        with DefaultScope.overwrite_default_scope('mmdet'):
            import mmdet.registry as D

            assert (
                type(D.TRANSFORMS.build(dict(type='PackDetInputs')))
                is MMDetPack
            )
    finally:
        R.TRANSFORMS._module_dict.pop('PackDetInputs')


def test_unknown_type_error_names_scope():
    with pytest.raises(KeyError, match='not in the mmgres::model registry'):
        _build_in_mmgres(R.MODELS, dict(type='NoSuchModel'))


def test_register_all_modules_sets_default_scope():
    register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'mmgres'


def test_default_runtime_scope():
    from mmengine.config import Config

    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    assert cfg.default_scope == 'mmgres'


def test_tokenizer_registry():
    # mmdet has no tokenizer registry: TOKENIZER is a root in scope mmgres
    assert R.TOKENIZER.scope == 'mmgres'
    assert R.TOKENIZER.parent is None


def test_tokenizer_types_live_under_the_registry_locations():
    """mmengine imports a registry's locations before looking a type up, so
    a tokenizer is found by its type name from any module that sits under
    them (the models' tokenizers, the synthetic dataset's). Projects
    register theirs through ``custom_imports`` instead."""
    names = {
        'AutoTokenizer',
        'BEiT3Tokenizer',
        'WordLevelTokenizer',
        'WordPieceTokenizer',
        'SyntheticWordLevelTokenizer',
        'SyntheticWordPieceTokenizer',
    }
    assert names <= set(R.TOKENIZER.module_dict)
    locations = tuple(R.TOKENIZER._locations)
    for name, builder in R.TOKENIZER.module_dict.items():
        if builder.__module__.startswith('mmgres.'):
            assert builder.__module__.startswith(locations), name
