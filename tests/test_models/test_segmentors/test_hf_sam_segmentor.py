import pytest
import torch

from mmgres.models.segmentors import KNOWN_SAM_ARCHS, HFSamSegmentor
from mmgres.registry import MODELS
from mmgres.testing import tiny_sam_cfg


@pytest.fixture(scope='module')
def sam():
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='HFSamSegmentor', model_cfg=tiny_sam_cfg(), pretrained=False)
    )


def test_frozen_encoders_trainable_mask_decoder(sam):
    """Paper appendix B: SAM's vision encoder is frozen and its mask decoder
    trained; the prompt encoder (only its "no mask" embedding is read) is
    frozen too."""
    trainable = {n for n, p in sam.named_parameters() if p.requires_grad}
    decoder = {
        f'model.mask_decoder.{n}'
        for n, _ in sam.model.mask_decoder.named_parameters()
        # GSVA never reads SAM's IoU predictions: frozen, so that DDP sees
        # a gradient for every trainable parameter
        if not n.startswith('iou_prediction_head.')
    }
    assert trainable == decoder and trainable
    sam.train()
    assert not sam.model.vision_encoder.training
    assert not sam.model.prompt_encoder.training
    assert sam.model.mask_decoder.training
    assert sam.prompt_channels == 32 and sam.image_size == 64


def test_preprocess_resize_longest_side_normalise_and_pad(sam):
    img = torch.zeros(1, 3, 40, 40)
    img[0, :, :32, :16] = sam.pixel_mean  # content (32, 16)
    img[0, :, :, 16:] = 255.0  # padding of the batch, must not leak
    pixels, sizes = sam.preprocess(img, [(32, 16)])
    assert pixels.shape == (1, 3, 64, 64)
    assert sizes == [(64, 32)]  # long side 32 -> 64
    torch.testing.assert_close(
        pixels[0, :, :, :32], torch.zeros(3, 64, 32), atol=1e-4, rtol=0
    )
    assert (pixels[0, :, :, 32:] == 0).all()  # SAM pads the normalised image


def test_encode_is_frozen(sam):
    pixels, _ = sam.preprocess(torch.rand(2, 3, 64, 64) * 255, [(64, 64)] * 2)
    emb = sam.encode(pixels)
    assert emb.shape == (2, 32, 8, 8)
    assert not emb.requires_grad


def test_decode_one_mask_per_prompt_with_gradients(sam):
    emb = sam.encode(
        sam.preprocess(torch.rand(1, 3, 64, 64) * 255, [(64, 64)])[0]
    )
    prompts = torch.randn(3, 32, requires_grad=True)
    low = sam.decode(emb[0], prompts)
    assert low.shape == (3, 32, 32)
    low.sum().backward()
    assert prompts.grad is not None and prompts.grad.abs().sum() > 0
    assert sam.model.mask_decoder.upscale_conv1.weight.grad is not None
    # a prompt's mask does not depend on the other prompts
    with torch.no_grad():
        one = sam.decode(emb[0], prompts[1:2])
    torch.testing.assert_close(one[0], low[1].detach(), atol=1e-5, rtol=1e-4)


def test_decode_matches_sam_with_point_prompt_embeddings(sam):
    """Reference equivalence: giving SAM's own point embedding as the sparse
    prompt reproduces SamModel's single-mask output for that point."""
    sam.eval()
    emb = sam.encode(
        sam.preprocess(torch.rand(1, 3, 64, 64) * 255, [(64, 64)])[0]
    )
    points = torch.tensor([[[[20.0, 30.0]]]])
    labels = torch.ones(1, 1, 1, dtype=torch.long)
    with torch.no_grad():
        sparse, _ = sam.model.prompt_encoder(points, labels, None, None)
        ref = sam.model(
            image_embeddings=emb,
            input_points=points,
            input_labels=labels,
            multimask_output=False,
        ).pred_masks[0, :, 0]
        ours = sam.decode(emb[0], sparse[0])
    torch.testing.assert_close(ours, ref)


def test_postprocess_crops_the_content(sam):
    low = torch.full((1, 16, 16), 10.0)
    low[..., 8:] = -10.0  # beyond x = 32 of the 64 px input: padding
    out = sam.postprocess(low, (64, 32), (100, 50))
    assert out.shape == (1, 100, 50)
    assert (out > 0).all()


def test_known_archs():
    vit_h = KNOWN_SAM_ARCHS['facebook/sam-vit-huge']['vision_config']
    assert vit_h['hidden_size'] == 1280 and vit_h['num_hidden_layers'] == 32
    assert vit_h['image_size'] == 1024
    with pytest.raises(ValueError, match='no architecture is known'):
        HFSamSegmentor('nope', pretrained=False)
