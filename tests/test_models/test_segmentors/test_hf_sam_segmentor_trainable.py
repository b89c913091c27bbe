"""HFSamSegmentor with a trained image encoder (tiny configs) and the
random position features of a random SAM."""

import torch

from mmgres.registry import MODELS
from mmgres.testing import tiny_sam_cfg


def _sam(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='HFSamSegmentor',
            model_cfg=tiny_sam_cfg(),
            pretrained=False,
            **kwargs,
        )
    )


def test_unfrozen_image_encoder_gets_gradients():
    sam = _sam(freeze_image_encoder=False)
    sam.train()
    assert sam.model.vision_encoder.training
    pixels = torch.randn(2, 3, 64, 64)
    emb = sam.encode(pixels)
    assert emb.shape == (2, 32, 8, 8) and emb.requires_grad
    emb.square().mean().backward()
    grad = sam.model.vision_encoder.patch_embed.projection.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # the same embeddings as HF's (no-grad) get_image_embeddings
    with torch.no_grad():
        torch.testing.assert_close(
            sam.encode(pixels), sam.model.get_image_embeddings(pixels)
        )


def test_frozen_image_encoder_builds_no_graph():
    sam = _sam()
    emb = sam.encode(torch.randn(1, 3, 64, 64))
    assert not emb.requires_grad


def _near(sam):
    """Mean distance between the position features of neighbouring cells
    of the image embedding."""
    pe = sam.model.get_image_wide_positional_embeddings()[0]  # (C, h, w)
    return float((pe[:, :, 1:] - pe[:, :, :-1]).norm(dim=0).mean())


def test_random_position_features_are_sam_scale():
    # SAM's PositionEmbeddingRandom draws N(0, 1); HF's random init would
    # draw with std = vision hidden_size // 2 = 16 here
    torch.manual_seed(0)
    sam = MODELS.build(
        dict(
            type='HFSamSegmentor',
            model_cfg=tiny_sam_cfg(image_size=128),  # 16 x 16 cells
            pretrained=False,
        )
    )
    gauss = sam.model.shared_image_embedding.positional_embedding
    assert 0.6 < float(gauss.std()) < 1.5
    ours = _near(sam)
    with torch.no_grad():
        gauss.mul_(16)  # HF's scale
    # HF's scale makes neighbours as different as random points
    assert ours < 0.8 * _near(sam)
