"""tools/analysis_tools/overfit.py: its parts on hand-made inputs, and a
few iterations of a tiny config on 2 synthetic samples (the structure of
its JSON output, not that the model fits)."""

import json
import math
import runpy
import sys

import pytest
from mmengine.config import Config
from tool_utils import REPO

TOOL = f'{REPO}/tools/analysis_tools/overfit.py'
IGVG_TINY = 'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py'
IGVG_FULL = 'configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco.py'
GSVA_FULL = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(TOOL)


def test_fixed_pipeline_drops_augmentations_and_sets_the_size(tool):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadReferringAnnotations'),
        dict(type='Resize', scale=(480, 480), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='mmdet.RandomCrop', crop_size=(64, 64)),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackReferringInputs'),
    ]
    out = tool['fixed_pipeline'](pipeline, (96, 160))
    assert [t['type'] for t in out] == [
        'LoadImageFromFile',
        'LoadReferringAnnotations',
        'Resize',
        'PackReferringInputs',
    ]
    assert out[2] == dict(type='Resize', scale=(160, 96), keep_ratio=False)
    assert pipeline[2]['scale'] == (480, 480)  # the config is not changed


class _Dataset:
    """Six sentences: (image, number of targets)."""

    ROWS = [(0, 1), (0, 3), (1, 1), (1, 0), (2, 2), (3, 1)]

    def __len__(self):
        return len(self.ROWS)

    def get_data_info(self, i):
        img, n = self.ROWS[i]
        return dict(
            img_path=f'{img}.jpg', instances=[{}] * n, no_target=n == 0
        )


@pytest.mark.parametrize(
    'num, expected',
    [
        # multi-target (sentence 1), no-target (3), then single-target
        # sentences of unused images (5), then any (0)
        (1, [1]),
        (2, [1, 3]),
        (3, [1, 3, 5]),
        (4, [0, 1, 3, 5]),
        (9, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_select_samples_mixes_kinds_and_images(tool, num, expected):
    assert tool['select_samples'](_Dataset(), num) == expected


def test_optim_cfg_plain_wrapper_with_deepspeed_clipping(tool):
    cfg = Config.fromfile(GSVA_FULL)
    wrapper = tool['optim_cfg'](cfg, 3e-4)
    assert wrapper.type == 'OptimWrapper'
    assert wrapper.optimizer.type == 'AdamW'
    assert wrapper.optimizer.lr == 3e-4
    assert wrapper.optimizer.betas == (0.9, 0.95)
    assert wrapper.clip_grad == dict(max_norm=1.0, norm_type=2)
    # the config's lr and parameter-wise settings otherwise
    cfg = Config.fromfile(IGVG_FULL)
    wrapper = tool['optim_cfg'](cfg, None)
    assert wrapper.optimizer.lr == 5e-4
    assert wrapper.optimizer.amsgrad is True
    assert wrapper.paramwise_cfg == dict(
        custom_keys={'backbone.beit3': dict(lr_mult=0.1)}
    )
    assert wrapper.clip_grad == dict(max_norm=0.15, norm_type=2)


def test_offline_gsva_shrinks_the_llama_and_sizes_sam(tool):
    model = Config.fromfile(GSVA_FULL).model
    model.mask_head.segmentor.model_cfg = 'sam-vit-base'
    cfg = tool['offline_model_cfg'](model, (128, 128), ['a', 'b'], True)
    mllm, sam = cfg.mllm, cfg.mask_head.segmentor
    assert mllm.pretrained is False and sam.pretrained is False
    assert mllm.tokenizer == dict(type='WordLevelTokenizer', words=['a', 'b'])
    text, vision = (
        mllm.model_cfg['text_config'],
        mllm.model_cfg['vision_config'],
    )
    assert text['model_type'] == 'llama' and text['hidden_size'] == 256
    assert text['num_hidden_layers'] == 4 and text['vocab_size'] == 32000
    assert vision['hidden_size'] == 1024  # CLIP ViT-L/14 kept
    assert vision['num_hidden_layers'] == 24
    assert mllm.lora_cfg.r == 8  # what is trained: the config's
    assert mllm.trainable_modules == ('lm_head', 'embed_tokens')
    assert sam.model_cfg['vision_config']['hidden_size'] == 768  # SAM-B
    assert sam.model_cfg['vision_config']['image_size'] == 128
    assert sam.model_cfg['prompt_encoder_config']['image_size'] == 128
    assert sam.freeze_image_encoder is True


def test_offline_igvg_random_weights_and_size(tool):
    model = Config.fromfile(IGVG_FULL).model
    cfg = tool['offline_model_cfg'](model, (128, 128), ['a', 'b'])
    assert cfg.backbone.pretrained is None
    assert cfg.backbone.img_size == 128
    assert cfg.backbone.arch == 'base'
    # no beit3.spm here: an in-memory stand-in over the samples' words
    assert cfg.backbone.tokenizer == dict(
        type='WordPieceTokenizer', vocab=['a', 'b']
    )


def test_tiny_config_few_iterations_json(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'overfit.json'
    argv = [TOOL, IGVG_TINY, '--num-samples', '2', '--shape', '64']
    argv += ['--iters', '3', '--eval-every', '2', '--lr', '1e-3']
    argv += ['--out-json', str(out)]
    monkeypatch.setattr(sys, 'argv', argv)
    monkeypatch.chdir(REPO)
    runpy.run_path(TOOL, run_name='__main__')
    assert 'after 3 iterations' in capsys.readouterr().out

    result = json.loads(out.read_text())
    assert result['model'] == 'IGVG' and result['lr'] == 1e-3
    assert result['input_shape'] == [64, 64]
    assert result['iters'] == 3 and len(result['loss']) == 3
    assert all(math.isfinite(v) for v in result['loss'])
    assert result['loss_terms'] and all(
        len(v) == 3 for v in result['loss_terms'].values()
    )
    # evaluated every 2 iterations and at the last one
    assert [e['iter'] for e in result['evals']] == [2, 3]
    for e in result['evals']:
        assert 0 <= e['gres/gIoU'] <= 100
        assert 0 <= e['grec/F1score@0.5'] <= 100
        assert not any(k.startswith('cover/') for k in e)  # GRES, GREC only
        # each sample scored alone: the whole set's gIoU is their mean
        ones = e['per_sample']
        assert len(ones) == 2
        assert all(isinstance(o['pred_no_target'], bool) for o in ones)
        assert e['gres/gIoU'] == pytest.approx(
            sum(o['gres/gIoU'] for o in ones) / 2
        )
    assert result['targets'] == {'gres/gIoU': 90.0, 'grec/F1score@0.5': 90.0}
    assert isinstance(result['fitted'], bool)
    # a multi-target and a no-target sentence
    kinds = [(s['num_targets'] > 1, s['no_target']) for s in result['samples']]
    assert kinds == [(True, False), (False, True)]
