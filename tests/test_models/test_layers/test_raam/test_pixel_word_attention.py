import torch
import torch.nn.functional as F

from mmgres.models.layers import PixelWordAttentionFusion
from mmgres.registry import MODELS


def _inputs():
    torch.manual_seed(0)
    return dict(
        visual=torch.randn(2, 12, 8, 8),
        text=torch.randn(2, 5, 6),
        text_padding_mask=torch.tensor(
            [[False] * 3 + [True] * 2, [False] * 5]
        ),
    )


def _block(**kwargs):
    cfg = dict(
        type='PixelWordAttentionFusion', visual_channels=12, text_channels=6
    )
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_shapes_and_region_descriptors():
    block = _block()
    assert isinstance(block, PixelWordAttentionFusion)
    fused, regions = block(**_inputs())
    assert fused.shape == (2, 12, 8, 8) and regions.shape == (2, 16, 12)
    # region n = (r, c) row-major: the mean of its 2×2 cell
    torch.testing.assert_close(
        regions[:, 1 * 4 + 2], fused[:, :, 2:4, 4:6].mean(dim=(2, 3))
    )
    _, regions = _block(region_grid=(2, 3))(**_inputs())
    assert regions.shape == (2, 6, 12)


def test_attention_is_over_unpadded_words():
    block = _block()
    inp = _inputs()
    attn = block.attention(
        inp['visual'].flatten(2), inp['text'], inp['text_padding_mask']
    )
    assert attn.shape == (2, 64, 5)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 64))
    assert torch.count_nonzero(attn[0, :, 3:]) == 0


def test_closed_gate_returns_the_visual_feature():
    block = _block()
    with torch.no_grad():
        block.gate[2].weight.zero_()  # tanh(0) = 0
    inp = _inputs()
    fused, _ = block(**inp)
    torch.testing.assert_close(fused, inp['visual'])


def test_anchors_are_ignored_and_gradients_flow():
    block = _block()
    inp = _inputs()
    f1, _ = block(**inp)
    f2, _ = block(**inp, anchors=torch.randn(2, 16, 12))
    torch.testing.assert_close(f1, f2)
    f1.square().mean().backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None]
    assert missing == []


def test_matches_the_formula():
    block = _block().eval()
    inp = _inputs()
    v = inp['visual'].flatten(2)
    q = F.instance_norm(block.pixel_query[0](v)).transpose(1, 2)
    k = block.word_key(inp['text'])
    logits = q @ k.transpose(1, 2) / 12**0.5
    logits = logits.masked_fill(inp['text_padding_mask'][:, None], -1e9)
    g = (logits.softmax(-1) @ block.word_value(inp['text'])).transpose(1, 2)
    g = F.instance_norm(block.attn_out[0](g))
    s = F.gelu(block.mm_proj[0](F.gelu(block.visual_proj[0](v)) * g))
    s = s.transpose(1, 2)
    ref = v.transpose(1, 2) + block.gate(s) * s
    fused, _ = block(**inp)
    torch.testing.assert_close(fused.flatten(2).transpose(1, 2), ref)
