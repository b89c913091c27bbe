import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmgres.models.layers import (
    AdaptiveQueryGenerator,
    DistScorePointSelector,
    minimap_targets,
)
from mmgres.registry import MODELS

C = 16
DEFAULT_ARGS = dict(
    type='AdaptiveQueryGenerator',
    embed_dims=C,
    num_queries=4,
    cross_attention=dict(
        type='ScoreMapCrossAttention',
        num_heads=2,
        ffn_cfg=dict(feedforward_channels=32, ffn_drop=0.0),
    ),
    query_injector=dict(type='InjectTextQuery', num_layers=2),
)

HAND_MASK = torch.tensor(
    [[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=torch.uint8
)


def _build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(DEFAULT_ARGS, **kwargs)).eval()


def _inputs(bsz=2, h=5, w=6, length=7):
    torch.manual_seed(1)
    img = torch.randn(bsz, C, h, w)
    text = torch.randn(bsz, length, C)
    pad = torch.zeros(bsz, length, dtype=torch.bool)
    pad[-1, 3:] = True  # last sentence: 3 real tokens < 4 queries
    return img, text, pad


def _sample(mask, no_target=False, batch_input_shape=None, sem_seg=True):
    h, w = mask.shape
    meta = dict(img_shape=(h, w), no_target=no_target)
    if batch_input_shape is not None:
        meta['batch_input_shape'] = batch_input_shape
    s = DetDataSample(metainfo=meta)
    if sem_seg:
        s.gt_sem_seg = PixelData(data=mask[None])
    return s


def test_forward_shapes_and_consistency():
    aqg = _build()
    img, text, pad = _inputs()
    out = aqg(img, text, pad)
    assert out['queries'].shape == (2, 4, C)
    assert out['ref_points'].shape == (2, 4, 2)
    assert out['point_indices'].shape == (2, 4)
    assert out['score_map'].shape == (2, 5, 6)
    assert out['attn_maps'].shape == (2, 4, 5, 6)
    assert out['text_valid'].tolist()[1] == [True, True, True, False]
    # points are the DPS choice on the score map, at pixel centres
    idx, pts = aqg.point_selector(out['score_map'])
    assert torch.equal(idx, out['point_indices'])
    torch.testing.assert_close(pts, out['ref_points'])
    x, y = out['ref_points'][..., 0], out['ref_points'][..., 1]
    torch.testing.assert_close(x, ((out['point_indices'] % 6) + 0.5) / 6)
    torch.testing.assert_close(y, ((out['point_indices'] // 6) + 0.5) / 5)
    # the score map is the mean of the valid slots' attention maps
    m = out['attn_maps']
    torch.testing.assert_close(out['score_map'][0], m[0].mean(0))
    torch.testing.assert_close(out['score_map'][1], m[1, :3].mean(0))


def test_flat_image_tokens_give_the_same_result():
    aqg = _build()
    img, text, pad = _inputs()
    a = aqg(img, text, pad)
    b = aqg(img.flatten(2).transpose(1, 2), text, pad, hw_shape=(5, 6))
    for key in ('queries', 'ref_points', 'score_map'):
        torch.testing.assert_close(a[key], b[key])


def test_batch_equals_each_sample_alone():
    aqg = _build()
    img, text, pad = _inputs()
    out = aqg(img, text, pad)
    for i in range(2):
        one = aqg(img[i : i + 1], text[i : i + 1], pad[i : i + 1])
        assert torch.equal(one['point_indices'][0], out['point_indices'][i])
        torch.testing.assert_close(one['queries'][0], out['queries'][i])


def test_queries_are_itq_of_point_features():
    aqg = _build(use_itq=False)
    img, text, pad = _inputs()
    out = aqg(img, text, pad)
    tokens = img.flatten(2).transpose(1, 2)
    feats = torch.stack([tokens[i, out['point_indices'][i]] for i in range(2)])
    torch.testing.assert_close(out['queries'], aqg.query_injector.mlp(feats))


def test_ablation_switches():
    on = _build()
    assert on.text_selector.rank_by == 'l2'
    assert on.point_selector.mode == 'dps'
    assert on.point_selector.dist_weight == 0.003
    assert on.query_injector.mlp.layers[0].in_features == 2 * C

    off = _build(use_sts=False, use_dps=False, use_itq=False)
    assert off.text_selector.rank_by == 'position'
    assert off.point_selector.mode == 'topk'
    assert off.query_injector.mlp.layers[0].in_features == C
    assert not off.cross_attention.with_query_update
    img, text, pad = _inputs()
    out = off(img, text, pad)
    assert out['queries'].shape == (2, 4, C)
    topk = out['score_map'].flatten(1).sigmoid().topk(4, dim=1).indices
    assert torch.equal(out['point_indices'], topk)
    # without STS the padding positions are used as queries
    assert out['text_valid'].all()


def test_pool_score_map_mean_and_max_by_hand():
    maps = torch.tensor([[1.0, 2.0], [5.0, -1.0], [3.0, 0.0]]).view(1, 3, 1, 2)
    valid = torch.tensor([[True, False, True]])
    mean = _build().pool_score_map(maps, valid)
    torch.testing.assert_close(mean, torch.tensor([[[2.0, 1.0]]]))
    mx = _build(score_reduce='max').pool_score_map(maps, valid)
    torch.testing.assert_close(mx, torch.tensor([[[3.0, 2.0]]]))
    # no valid slot: all slots are pooled
    none = _build().pool_score_map(maps, torch.zeros(1, 3, dtype=torch.bool))
    torch.testing.assert_close(none, torch.tensor([[[3.0, 1 / 3]]]))


def test_image_padding_cells_are_not_chosen():
    aqg = _build()
    img, text, pad = _inputs()
    img_pad = torch.zeros(2, 5, 6, dtype=torch.bool)
    img_pad[:, :, 3:] = True  # right half padded
    out = aqg(img, text, pad, img_padding_mask=img_pad)
    assert (out['point_indices'] % 6 < 3).all()


def test_minimap_targets_by_hand():
    samples = [_sample(HAND_MASK), _sample(HAND_MASK, no_target=True)]
    near = minimap_targets(samples, (2, 2))
    # nearest reads pixels (0, 0), (0, 2), (2, 0), (2, 2)
    torch.testing.assert_close(near[0], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(near[1], torch.zeros(2, 2))  # no target


def test_minimap_targets_pad_to_batch_shape_and_ignore_255():
    # a 2 x 2 image in a 4 x 4 padded batch: only the top-left cell of the
    # 2 x 2 minimap is read from the image; 255 counts as background
    mask = torch.tensor([[1, 1], [1, 255]], dtype=torch.uint8)
    near = minimap_targets([_sample(mask, batch_input_shape=(4, 4))], (2, 2))
    torch.testing.assert_close(near[0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    ignore = minimap_targets([_sample(mask, batch_input_shape=(4, 4))], (4, 4))
    assert ignore[0, 1, 1] == 0 and ignore[0, 1, 0] == 1


def test_minimap_targets_fall_back_to_instance_masks():
    s = _sample(HAND_MASK, sem_seg=False)
    inst = np.zeros((2, 4, 4), np.uint8)
    inst[0, :2, :2] = 1
    inst[1, 2:, 2:] = 1
    s.gt_instances = InstanceData(masks=BitmapMasks(inst, 4, 4))
    near = minimap_targets([s], (2, 2))
    torch.testing.assert_close(near[0], torch.eye(2))


def test_minimap_loss_hand_value():
    """Zero logits (p = 0.5) against the nearest minimap [[1, 0], [0, 1]]:
    BCE = log 2; naive dice (eps 1) = 1 - (2·1 + 1) / (2 + 2 + 1) = 0.4;
    both times the 0.1 weight."""
    aqg = _build()
    losses = aqg.loss(torch.zeros(1, 2, 2), [_sample(HAND_MASK)])
    assert losses['loss_minimap_bce'].item() == pytest.approx(
        0.1 * math.log(2)
    )
    assert losses['loss_minimap_dice'].item() == pytest.approx(0.04)


def test_minimap_loss_gradient_reaches_the_attention():
    aqg = _build(use_itq=False)  # the loss is then the only gradient path
    aqg.train()
    img, text, pad = _inputs(h=4, w=4)
    out = aqg(img, text, pad)
    out['score_map'].retain_grad()
    losses = aqg.loss(out['score_map'], [_sample(HAND_MASK)] * 2)
    sum(losses.values()).backward()
    assert out['score_map'].grad.abs().sum() > 0
    assert aqg.cross_attention.q_proj.weight.grad.abs().sum() > 0
    assert aqg.cross_attention.k_proj.weight.grad.abs().sum() > 0


def test_minimap_supervision_moves_the_points_onto_the_targets():
    """A few Adam steps on one fixed batch: the loss falls, the score map
    reproduces the minimap, and DPS puts its first two points on the two
    different blobs of the mask (once the map saturates, the distance term
    decides between the near-equal cells)."""
    aqg = _build(use_itq=False).train()
    img, text, pad = _inputs(bsz=1, h=4, w=4)
    samples = [_sample(HAND_MASK)]
    before = aqg(img, text, pad)['point_indices'][0, 0]
    assert HAND_MASK.flatten()[before] == 0  # starts off target
    opt = torch.optim.Adam(aqg.parameters(), lr=0.05)
    first = None
    for _ in range(40):
        out = aqg(img, text, pad)
        loss = sum(aqg.loss(out['score_map'], samples).values())
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = aqg(img, text, pad)
    assert loss.item() < 0.01 * first
    assert torch.equal((out['score_map'][0] > 0).to(torch.uint8), HAND_MASK)
    blob = {0: 1, 1: 1, 4: 1, 10: 2, 11: 2, 14: 2, 15: 2}
    p0, p1 = out['point_indices'][0, :2].tolist()
    assert {blob.get(p0), blob.get(p1)} == {1, 2}


def test_dps_in_aqg_matches_the_selector_config():
    assert isinstance(_build(), AdaptiveQueryGenerator)
    aqg = _build(
        point_selector=dict(
            type='DistScorePointSelector', dist_weight=0.5 * 61**0.5
        )
    )
    assert isinstance(aqg.point_selector, DistScorePointSelector)
    assert aqg.point_selector.num_points == 4
    img, text, pad = _inputs()
    out = aqg(img, text, pad)
    assert len(set(out['point_indices'][0].tolist())) == 4
