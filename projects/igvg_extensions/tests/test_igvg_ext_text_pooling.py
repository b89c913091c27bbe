import pytest
import torch

from projects.igvg_extensions.igvg_extensions import masked_text_pool


def test_pooling_by_hand():
    feats = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    pad = torch.tensor([[False, False, True]])
    assert masked_text_pool(feats, pad).tolist() == [[2.0, 3.0]]
    assert masked_text_pool(feats, pad, 'max').tolist() == [[3.0, 4.0]]
    torch.testing.assert_close(
        masked_text_pool(feats), torch.tensor([[13 / 3, 5.0]])
    )


def test_all_padding_gives_zeros():
    feats = torch.randn(2, 3, 4)
    pad = torch.tensor([[True] * 3, [False, True, True]])
    for mode in ('mean', 'max'):
        out = masked_text_pool(feats, pad, mode)
        assert out[0].eq(0).all()
        torch.testing.assert_close(out[1], feats[1, 0])
    with pytest.raises(ValueError, match='mode'):
        masked_text_pool(feats, pad, 'sum')
