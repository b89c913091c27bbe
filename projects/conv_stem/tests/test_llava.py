"""ConvStemLlavaMLLM: GSVA's LLaVA with a ConvStem in its CLIP tower."""

import torch

from mmgres.registry import MODELS
from mmgres.testing import tiny_llava_cfg
from mmgres.utils import register_all_modules
from projects.conv_stem.conv_stem.layers import ConvStem
from projects.conv_stem.conv_stem.llava import ConvStemLlavaMLLM

register_all_modules(init_default_scope=False)


def _mllm(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='ConvStemLlavaMLLM',
            model_cfg=tiny_llava_cfg(),
            pretrained=False,
            tokenizer=dict(type='WordLevelTokenizer', words=['a', 'cat']),
            lora_cfg=None,
            **kwargs,
        )
    )


def test_conv_stem_in_the_vision_tower():
    m = _mllm(trainable_modules=('vision_tower',))
    assert isinstance(m, ConvStemLlavaMLLM)
    stem = m.model.model.vision_tower.get_input_embeddings()
    assert isinstance(stem, ConvStem) and stem.patch_size == 8
    assert all(p.requires_grad for p in stem.parameters())
    pix = m.preprocess_images(torch.rand(2, 3, 40, 40) * 255, [(40, 40)] * 2)
    out = m.model.model.vision_tower(pix).last_hidden_state
    # CLS + the same 4x4 patch grid (32-pixel images, 8-pixel patches)
    assert out.shape[:2] == (2, 17)
    out.sum().backward()
    grad = stem.layers[0].conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_conv_stem_frozen_with_the_tower():
    m = _mllm()  # the tower is not in trainable_modules
    stem = m.model.model.vision_tower.get_input_embeddings()
    assert isinstance(stem, ConvStem)
    assert not any(p.requires_grad for p in stem.parameters())
