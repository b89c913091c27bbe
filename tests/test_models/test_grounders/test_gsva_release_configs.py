"""The release-matching GSVA config and the Llama-2-13B config: their
settings, and the release config's pipeline and model options running on a
tiny model (CLIP input from the original image, release prompt and
protocol)."""

import copy

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS, TRANSFORMS
from mmgres.utils import register_all_modules

from ..gsva_utils import tiny_gsva_cfg

register_all_modules(init_default_scope=False)

RELEASE = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_release.py'
LLAMA2 = 'configs/gsva/gsva_llava-llama-2-13b_sam-vit-h_8xb2-10e_grefcoco.py'


def test_llama_2_13b_config():
    cfg = Config.fromfile(LLAMA2)
    assert cfg.model.mllm.lora_cfg.r == 64
    assert cfg.model.mllm.name_or_path.endswith('llava-v1-llama-2-13b')
    conv = cfg.model.conversation
    assert conv.style == 'llama_2'
    assert conv.system.startswith('You are a helpful language and vision')
    assert cfg.model.test_cfg.get('protocol', 'paper') == 'paper'


def test_release_config_settings():
    cfg = Config.fromfile(RELEASE)
    assert cfg.model.test_cfg.protocol == 'release'
    assert cfg.model.mllm.image_start_end
    assert cfg.model.mllm.tokenizer == dict(
        type='AutoTokenizer', use_fast=True, legacy=True
    )
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline):
        types = [t['type'] for t in pipeline]
        # CLIP sees the original image: before the SAM resize
        assert types.index('CLIPImageInput') < types.index('Resize')
        resize = pipeline[types.index('Resize')]
        assert resize['backend'] == 'pillow'
        # packed with the sample (a default meta key of the packer)
        pack = TRANSFORMS.build(pipeline[-1])
        assert 'clip_img' in pack.meta_keys
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline


def _results(h, w, text, no_target, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), np.uint8)
    return dict(
        img=img,
        img_shape=(h, w),
        ori_shape=(h, w),
        img_path=f'img{seed}.png',
        img_id=seed,
        text=text,
        no_target=no_target,
    )


def test_release_pipeline_and_options_on_a_tiny_model():
    cfg = Config.fromfile(RELEASE)
    # the config's test pipeline after loading, with a 64-pixel SAM frame
    # and a 32-pixel CLIP input (the tiny towers' sizes)
    steps = copy.deepcopy(cfg.test_pipeline[1:])
    steps = [s for s in steps if s['type'] != 'LoadReferringAnnotations']
    steps[0].update(size=32, crop_size=32)
    steps[1].update(scale=(64, 64))
    with DefaultScope.overwrite_default_scope('mmgres'):
        pipe = Compose(steps)
        packed = [
            pipe(_results(48, 80, 'The cat.', True, 0)),
            pipe(_results(48, 80, 'a dog', False, 0)),
        ]
    assert packed[0]['data_samples'].img_shape == (38, 64)
    torch.manual_seed(0)
    gsva = tiny_gsva_cfg()
    gsva['mllm'].update(image_start_end=True)
    gsva['conversation'] = dict(cfg.model.conversation)
    gsva['test_cfg'] = dict(cfg.model.test_cfg)
    model = MODELS.build(gsva).eval()
    seen = {}
    orig = model.mllm.preprocess_images

    def spy(images, shapes, clip=None):
        seen['clip'] = clip
        return orig(images, shapes, clip)

    model.mllm.preprocess_images = spy
    data = model.data_preprocessor(
        dict(
            inputs=[p['inputs'] for p in packed],
            data_samples=[p['data_samples'] for p in packed],
        ),
        False,
    )
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'])
    # the CLIP input is the pipeline's (made from the 48 x 80 original)
    assert len(seen['clip']) == 1  # one image
    np.testing.assert_array_equal(
        seen['clip'][0], packed[0]['data_samples'].clip_img
    )
    # one dialogue for both expressions, written as the release writes it
    answer = out[0].pred_answer
    assert answer.startswith('Sure,the cat:') and ', a dog:' in answer
    assert out[1].pred_answer == answer
