import pytest
import torch

from mmgres.models.layers import InjectTextQuery
from mmgres.registry import MODELS


def test_itq_concatenates_point_and_text_queries():
    itq = InjectTextQuery(embed_dims=8, num_layers=3)
    assert itq.mlp.layers[0].in_features == 16
    assert len(itq.mlp.layers) == 3
    pts, txt = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    out = itq(pts, txt)
    assert out.shape == (2, 5, 8)
    # the text changes the queries
    assert not torch.allclose(out, itq(pts, torch.zeros_like(txt)))


def test_itq_equals_mlp_of_the_concatenation():
    itq = InjectTextQuery(embed_dims=4, num_layers=1)  # a single Linear
    pts, txt = torch.randn(1, 2, 4), torch.randn(1, 2, 4)
    lin = itq.mlp.layers[0]
    expected = torch.cat([pts, txt], -1) @ lin.weight.t() + lin.bias
    torch.testing.assert_close(itq(pts, txt), expected)


def test_itq_off_uses_image_features_only():
    itq = MODELS.build(
        dict(
            type='InjectTextQuery', embed_dims=8, num_layers=2, use_text=False
        )
    )
    assert itq.mlp.layers[0].in_features == 8
    pts = torch.randn(2, 5, 8)
    out = itq(pts, torch.randn(2, 5, 8))
    torch.testing.assert_close(out, itq(pts))  # text ignored
    assert out.shape == (2, 5, 8)


def test_itq_on_needs_text():
    with pytest.raises(AssertionError):
        InjectTextQuery(embed_dims=8)(torch.randn(1, 2, 8))
