import pytest
import torch

from mmgres.models.layers import ScoreTextSelector
from mmgres.registry import MODELS


def _tokens(norms):
    """Tokens (1, L, 2) along x with the given L2 norms."""
    t = torch.zeros(1, len(norms), 2)
    t[0, :, 0] = torch.tensor(norms, dtype=torch.float)
    return t


def test_drops_padding_and_ranks_by_l2_norm():
    # 6 tokens, the last two are padding (with large norms that must be
    # ignored). Real norms: [1, 5, 3, 4] -> ranking 1 (5), 3 (4), 2 (3).
    feats = _tokens([1, 5, 3, 4, 9, 8])
    pad = torch.tensor([[False, False, False, False, True, True]])
    sel, valid, idx = ScoreTextSelector(num_queries=3)(feats, pad)
    assert idx.tolist() == [[1, 3, 2]]
    assert valid.tolist() == [[True, True, True]]
    torch.testing.assert_close(sel[0, :, 0], torch.tensor([5.0, 4.0, 3.0]))


def test_l2_norm_not_mean():
    # token 0 = (-6, 0): norm 6 but mean -3; token 1 = (2, 2): norm 2.83,
    # mean 2. L2 ranks 0 first; 'mean' ranks 1 first.
    feats = torch.tensor([[[-6.0, 0.0], [2.0, 2.0]]])
    _, _, idx = ScoreTextSelector(num_queries=1)(feats)
    assert idx.tolist() == [[0]]
    _, _, idx = ScoreTextSelector(num_queries=1, rank_by='mean')(feats)
    assert idx.tolist() == [[1]]


def test_short_sentence_repeat_fill():
    # real norms [1, 5, 3], one padding token, 5 slots:
    # ranked 1, 2, 0; slots 3, 4 repeat ranks 0, 1 -> tokens 1, 2
    feats = _tokens([1, 5, 3, 9])
    pad = torch.tensor([[False, False, False, True]])
    sel, valid, idx = ScoreTextSelector(num_queries=5)(feats, pad)
    assert idx.tolist() == [[1, 2, 0, 1, 2]]
    assert valid.tolist() == [[True, True, True, False, False]]
    torch.testing.assert_close(sel[0, 3], feats[0, 1])


def test_sequence_shorter_than_slots():
    feats = _tokens([2, 1])  # L = 2 < N = 3, no padding
    sel, valid, idx = ScoreTextSelector(num_queries=3)(feats)
    assert idx.tolist() == [[0, 1, 0]]
    assert valid.tolist() == [[True, True, False]]


def test_position_mode_is_the_no_sts_baseline():
    # first N positions in order, padding included and counted valid
    feats = _tokens([1, 5, 3, 9])
    pad = torch.tensor([[False, False, True, True]])
    sts = ScoreTextSelector(num_queries=3, rank_by='position')
    _, valid, idx = sts(feats, pad)
    assert idx.tolist() == [[0, 1, 2]]
    assert valid.all()


def test_batch_with_different_padding():
    feats = torch.cat([_tokens([1, 5, 3, 4]), _tokens([7, 2, 6, 9])])
    pad = torch.tensor([[False] * 4, [False, False, True, True]])
    _, valid, idx = ScoreTextSelector(num_queries=3)(feats, pad)
    # sample 1: real [7, 2] -> 0, 1, then repeat rank 0 -> 0
    assert idx.tolist() == [[1, 3, 2], [0, 1, 0]]
    assert valid.tolist() == [[True] * 3, [True, True, False]]


def test_all_padding_has_no_valid_slot():
    feats = _tokens([1, 2])
    pad = torch.ones(1, 2, dtype=torch.bool)
    _, valid, idx = ScoreTextSelector(num_queries=2)(feats, pad)
    assert not valid.any()
    assert idx.tolist() == [[0, 0]]


def test_gradient_reaches_the_selected_tokens():
    feats = _tokens([1, 5, 3]).requires_grad_()
    sel, _, _ = ScoreTextSelector(num_queries=2)(feats)
    sel.sum().backward()
    # tokens 1 and 2 were selected
    assert feats.grad[0, :, 0].tolist() == [0.0, 1.0, 1.0]


def test_registry_and_bad_args():
    sts = MODELS.build(dict(type='ScoreTextSelector', num_queries=4))
    assert sts.num_queries == 4
    with pytest.raises(AssertionError):
        ScoreTextSelector(rank_by='l1')


def test_zero_fill_keeps_sentence_order_for_short_sentences():
    # InstanceVG: 3 real tokens < 4 slots -> positions 0, 1, 2 in sentence
    # order (means 1, 5, 3: not ranked), then a zero vector
    feats = _tokens([1, 5, 3, 9, 7])
    pad = torch.tensor([[False, False, False, True, True]])
    sel = ScoreTextSelector(num_queries=4, rank_by='mean', fill_mode='zero')
    out, valid, idx = sel(feats, pad)
    assert idx.tolist() == [[0, 1, 2, -1]]
    assert valid.tolist() == [[True, True, True, False]]
    torch.testing.assert_close(out[0, :, 0], torch.tensor([1.0, 5.0, 3, 0]))
    # enough real tokens: ranked by the channel mean (x / 2 here)
    out, valid, idx = sel(feats, None)
    assert idx.tolist() == [[3, 4, 1, 2]]
    assert valid.all()


def test_zero_fill_beyond_the_sequence_and_bad_mode():
    feats = _tokens([2, 4])
    sel = ScoreTextSelector(num_queries=3, rank_by='mean', fill_mode='zero')
    out, valid, idx = sel(feats)
    assert idx.tolist() == [[0, 1, -1]]
    torch.testing.assert_close(out[0, :, 0], torch.tensor([2.0, 4.0, 0.0]))
    with pytest.raises(ValueError, match='fill_mode'):
        ScoreTextSelector(fill_mode='nope')
