import pytest
import torch

from mmgres.models.layers import ConvStem


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
