"""The project's configs build their models with its parts."""

import glob

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

CONFIGS = sorted(glob.glob('projects/gsva_extensions/configs/*.py'))
TUNED = (
    'projects/gsva_extensions/configs/'
    'gsva_tiny_1xb8-16e_synthetic-grefcoco_tuned.py'
)


def _model(path):
    cfg = Config.fromfile(path)
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return cfg, MODELS.build(cfg.model)


def test_there_are_the_configs():
    assert len(CONFIGS) == 3 and TUNED in CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds(path):
    cfg, model = _model(path)
    assert cfg.default_scope == 'mmgres'
    assert cfg.custom_imports.imports == [
        'projects.gsva_extensions.gsva_extensions'
    ]
    assert type(model).__name__ in ('RejWeightedGSVA', 'SpanMeanGSVA')
    assert model.rej_token_weight == 4.0
    assert cfg.train_cfg.max_epochs == (8 if '8e' in path else 16)


def test_tuned_config():
    """SAM's image encoder and CLIP frozen (as the paper), ψ's dense
    prompt, span-mean slot states and the text-aware flip."""
    cfg, model = _model(TUNED)
    assert type(model).__name__ == 'SpanMeanGSVA'
    assert type(model.mask_head).__name__ == 'DensePromptMaskHead'
    sam = model.mask_head.segmentor.model
    assert not any(p.requires_grad for p in sam.vision_encoder.parameters())
    assert all(
        p.requires_grad != n.startswith('iou_prediction_head.')
        for n, p in sam.mask_decoder.named_parameters()
    )
    llava = model.mllm.model
    clip = [p for n, p in llava.named_parameters() if 'vision_tower' in n]
    assert clip and not any(p.requires_grad for p in clip)
    assert llava.model.multi_modal_projector.weight.requires_grad
    steps = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert 'RandomFlip' in steps
