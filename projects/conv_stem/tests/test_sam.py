"""ConvStemHFSamSegmentor: GSVA's SAM with a ConvStem in its image
encoder, and the GSVA config that uses it."""

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings

from mmgres.registry import MODELS
from mmgres.testing import tiny_sam_cfg
from mmgres.utils import register_all_modules
from projects.conv_stem.conv_stem.layers import ConvStem
from projects.conv_stem.conv_stem.sam import ConvStemHFSamSegmentor

register_all_modules(init_default_scope=False)

CONFIG = (
    'projects/conv_stem/configs/'
    'gsva_tiny-convstem_1xb8-16e_synthetic-grefcoco_rej-weighted.py'
)


def _sam(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='ConvStemHFSamSegmentor',
            model_cfg=tiny_sam_cfg(),
            pretrained=False,
            **kwargs,
        )
    )


def test_conv_stem_replaces_the_image_encoder_patchify():
    sam = _sam(freeze_image_encoder=False)
    assert isinstance(sam, ConvStemHFSamSegmentor)
    stem = sam.model.vision_encoder.patch_embed.projection
    assert isinstance(stem, ConvStem) and stem.patch_size == 8
    sam.train()
    emb = sam.encode(torch.randn(2, 3, 64, 64))
    assert emb.shape == (2, 32, 8, 8)  # the patchify grid: 64 / 8
    emb.square().mean().backward()
    assert stem.layers[0].conv.weight.grad.abs().sum() > 0
    # frozen with the encoder otherwise
    frozen = _sam()
    stem = frozen.model.vision_encoder.patch_embed.projection
    assert isinstance(stem, ConvStem)
    assert not any(p.requires_grad for p in stem.parameters())


def test_gsva_config_builds_with_both_stems():
    cfg = Config.fromfile(CONFIG)
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'RejWeightedGSVA'
    assert model.rej_token_weight == 4.0
    assert cfg.train_cfg.max_epochs == 16
    sam = model.mask_head.segmentor
    assert type(sam).__name__ == 'ConvStemHFSamSegmentor'
    assert isinstance(
        sam.model.vision_encoder.patch_embed.projection, ConvStem
    )
    tower = model.mllm.model.model.vision_tower
    assert type(model.mllm).__name__ == 'ConvStemLlavaMLLM'
    assert isinstance(tower.get_input_embeddings(), ConvStem)
