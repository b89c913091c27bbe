import pytest
import torch
import torch.nn.functional as F

from mmgres.registry import MODELS
from mmgres.testing import tiny_sam_cfg
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

DEFAULT_ARGS = dict(
    type='GSVAMaskHead',
    segmentor=dict(
        type='HFSamSegmentor', model_cfg=tiny_sam_cfg(), pretrained=False
    ),
    in_channels=48,
)


def _build(**kwargs):
    from mmengine.registry import DefaultScope

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(dict(DEFAULT_ARGS, **kwargs))


@pytest.fixture
def head():
    return _build()


def _three_slots_on_two_images(head):
    """Slots 0 and 2 on image 1, slot 1 on image 0: their low-res masks."""
    feats = _feats(head)
    states = torch.randn(3, 48)
    image_index = torch.tensor([1, 0, 1])
    low = head(states, image_index, feats)
    assert low.shape == (3, 32, 32)
    return feats, states, image_index, low


def _feats(head, n=2):
    return head.encode_images(
        torch.rand(n, 3, 64, 64) * 255, [(64, 64), (64, 32)][:n]
    )


def test_projector_psi_shapes(head):
    layers = head.proj.layers
    assert [tuple(layer.weight.shape) for layer in layers] == [
        (48, 48),
        (32, 48),
    ]
    x = torch.randn(5, 48)
    expected = layers[1](F.relu(layers[0](x)))  # Linear - ReLU - Linear
    torch.testing.assert_close(head.proj(x), expected)


def test_k_states_give_k_masks_on_their_images(head):
    feats, states, image_index, low = _three_slots_on_two_images(head)
    with torch.no_grad():
        ref = head.segmentor.decode(
            feats['embeddings'][1], head.proj(states[[0, 2]])
        )
    torch.testing.assert_close(low[[0, 2]].detach(), ref)
    masks = head.predict(
        states, image_index, feats, [(20, 10), (64, 64), (30, 15)]
    )
    assert [tuple(m.shape) for m in masks] == [(20, 10), (64, 64), (30, 15)]
    assert head(states[:0], image_index[:0], feats).shape == (0, 32, 32)


def test_loss_matches_lisa_bce_and_dice(head):
    """Reference equivalence with LISA/GSVA's sigmoid_ce_loss and dice_loss
    (scale 1000, eps 1e-6), weights 2.0 and 0.5, over the decoded masks."""
    feats = _feats(head)
    states = torch.randn(2, 48)
    image_index = torch.tensor([0, 1])
    gts = [
        torch.zeros(64, 64, dtype=torch.bool),
        torch.zeros(40, 20, dtype=torch.bool),
    ]
    gts[0][10:30, 5:40] = True
    gts[1][:20, :10] = True
    losses = head.loss(states, image_index, feats, gts)
    preds = head.predict(states, image_index, feats, [g.shape for g in gts])
    bce, dice = 0.0, 0.0
    for p, g in zip(preds, gts):
        g = g.float()
        bce += F.binary_cross_entropy_with_logits(
            p, g, reduction='none'
        ).mean()
        s = p.sigmoid().flatten()
        t = g.flatten()
        num = 2 * (s / 1000 * t).sum()
        den = (s / 1000).sum() + (t / 1000).sum()
        dice += 1 - (num + 1e-6) / (den + 1e-6)
    torch.testing.assert_close(losses['loss_mask'], 2.0 * bce / 2)
    torch.testing.assert_close(losses['loss_dice'], 0.5 * dice / 2)
    sum(losses.values()).backward()
    assert head.proj.layers[0].weight.grad is not None
    assert (
        head.segmentor.model.mask_decoder.upscale_conv1.weight.grad is not None
    )


def test_loss_without_seg_slots_is_zero_and_reaches_params(head):
    feats = _feats(head, 1)
    losses = head.loss(
        torch.zeros(0, 48), torch.zeros(0, dtype=torch.long), feats, []
    )
    assert losses['loss_mask'] == 0 and losses['loss_dice'] == 0
    sum(losses.values()).backward()
    for p in head.parameters():
        if p.requires_grad:
            assert p.grad is not None and (p.grad == 0).all()
    with pytest.raises(ValueError, match='masks'):
        head.loss(
            torch.zeros(1, 48), torch.zeros(1, dtype=torch.long), feats, []
        )
