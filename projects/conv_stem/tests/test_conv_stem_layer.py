import pytest
import torch

from projects.conv_stem.conv_stem.layers import ConvStem


@pytest.mark.parametrize('patch, n', [(4, 2), (8, 3), (16, 4)])
def test_conv_stem_matches_the_patchify_shape(patch, n):
    stem = ConvStem(out_channels=64, patch_size=patch)
    assert len(stem.layers) == n
    # hidden convs: norm + activation, no bias; the last one: bias only
    assert all(
        m.norm is not None and m.activate is not None for m in stem.layers[:-1]
    )
    last = stem.layers[-1]
    assert last.conv.bias is not None and last.norm is None
    x = torch.randn(2, 3, 64, 96)
    patchify = torch.nn.Conv2d(3, 64, patch, stride=patch)
    assert stem(x).shape == patchify(x).shape


def test_conv_stem_widths_and_errors():
    stem = ConvStem(out_channels=256, patch_size=16, min_channels=16)
    widths = [m.conv.out_channels for m in stem.layers]
    assert widths == [32, 64, 128, 256]
    with pytest.raises(ValueError, match='power of 2'):
        ConvStem(out_channels=8, patch_size=6)


def test_replace_patchify_in_place():
    parent = torch.nn.Module()
    parent.proj = torch.nn.Conv2d(3, 32, 8, stride=8)
    stem = ConvStem.replace_patchify(parent, 'proj')
    assert parent.proj is stem
    assert stem.patch_size == 8 and stem.out_channels == 32
    # HF's vision embeddings read the projection's weight dtype
    assert stem.weight is stem.layers[-1].conv.weight
    assert parent.proj(torch.randn(1, 3, 32, 32)).shape == (1, 32, 4, 4)
    parent.overlap = torch.nn.Conv2d(3, 32, 7, stride=4, padding=3)
    with pytest.raises(ValueError, match='patchify'):
        ConvStem.replace_patchify(parent, 'overlap')
    parent.linear = torch.nn.Linear(3, 3)
    with pytest.raises(TypeError, match='not the nn.Conv2d'):
        ConvStem.replace_patchify(parent, 'linear')
