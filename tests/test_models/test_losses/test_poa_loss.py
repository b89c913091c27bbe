import math

import torch

from mmgres.models.losses import POALoss, phrase_features, poa_distance


def test_phrase_features_hand_computed():
    # one query q = [1, 0]; words T = [[1, 0], [0, 1]]; d = 2
    q = torch.tensor([[[1.0, 0.0]]])
    t = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    a0 = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    p = phrase_features(q, t, None)
    torch.testing.assert_close(p, torch.tensor([[[a0, 1 - a0]]]))
    # padding the second word puts all attention on the first
    p = phrase_features(q, t, torch.tensor([[False, True]]))
    torch.testing.assert_close(p, torch.tensor([[[1.0, 0.0]]]))


def test_poa_loss_values():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # aligned; orthogonal
    torch.testing.assert_close(poa_distance(q, p), torch.tensor([0.0, 1.0]))
    loss = POALoss(loss_weight=2.0)
    torch.testing.assert_close(loss(q, p), torch.tensor(1.0))  # 2 * (0+1)/2
    torch.testing.assert_close(loss(q, p, avg_factor=4), torch.tensor(0.5))
    empty = loss(torch.zeros(0, 2), torch.zeros(0, 2))
    assert empty == 0
