import pytest
import torch

from mmgres.registry import MODELS


def _neck():
    return MODELS.build(dict(type='HierarchicalLayerFusion'))


def test_eq9_by_hand():
    feats = [torch.full((1, 2, 3, 3), 4.0)]
    layers = [[torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), 2.0)]]
    (out,) = _neck()(feats, layers)
    # (4 + (0 + 2) / 2) / 2
    torch.testing.assert_close(out, torch.full((1, 2, 3, 3), 2.5))


def test_stages_keep_their_shapes():
    torch.manual_seed(0)
    shapes = [(2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2)]
    feats = [torch.randn(s) for s in shapes]
    layers = [
        [torch.randn(s) for _ in range(q)] for s, q in zip(shapes, [2, 1, 3])
    ]
    outs = _neck()(feats, layers)
    assert [o.shape for o in outs] == [torch.Size(s) for s in shapes]
    ref = 0.5 * (feats[2] + (layers[2][0] + layers[2][1] + layers[2][2]) / 3)
    torch.testing.assert_close(outs[2], ref)
    assert len(list(_neck().parameters())) == 0


def test_mismatch_raises():
    with pytest.raises(ValueError):
        _neck()([torch.zeros(1, 1, 1, 1)], [])
    with pytest.raises(ValueError):
        _neck()([torch.zeros(1, 1, 1, 1)], [[]])
