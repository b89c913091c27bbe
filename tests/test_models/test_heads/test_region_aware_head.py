"""RegionAwareHead: Eq. 10, loss and predict for REC, RES and GRES."""

import copy

import pytest
import torch

from mmgres.models.grounders import BaseGrounder
from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

DEFAULT_ARGS = dict(
    type='RegionAwareHead',
    in_channels=[16, 16, 16, 16],
    anchor_channels=16,
    hidden_channels=12,
    mask_upsample=2,
)


def _head(**kwargs):
    cfg = copy.deepcopy(DEFAULT_ARGS)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _feats(batch=2, channels=(16, 16, 16, 16), sizes=(8, 8, 8, 8)):
    torch.manual_seed(0)
    feats = [torch.randn(batch, c, s, s) for c, s in zip(channels, sizes)]
    return feats, torch.randn(batch, 16, channels[-1])


def _samples(batch=2, size=64, no_target_first=True):
    _, samples = demo_grounding_inputs(
        batch_size=batch,
        image_shape=(size, size),
        num_instances=2,
        no_target_first=no_target_first,
    )
    return samples


def test_eq10_regions_by_hand():
    head = _head(in_channels=[4, 4, 4], anchor_channels=4)
    feats = [torch.ones(1, 4, 8, 8) * (i + 1) for i in range(3)]
    # anchor n is the constant n: region n of R_i holds n * (i + 1)
    anchors = torch.arange(16.0)[None, :, None].repeat(1, 1, 4)
    r = head.region_features(feats, anchors)
    assert r.shape == (1, 8, 8, 8)  # stages 2..3 concatenated
    cell = torch.arange(16.0).reshape(4, 4)
    expected_map = cell.repeat_interleave(2, 0).repeat_interleave(2, 1)
    torch.testing.assert_close(r[0, 0], 2 * expected_map)  # stage 2
    torch.testing.assert_close(r[0, 7], 3 * expected_map)  # stage 3


def test_swin_like_widths_and_sizes():
    head = _head(
        in_channels=[8, 16, 32, 64], anchor_channels=64, region_channels=16
    )
    feats, anchors = _feats(channels=(8, 16, 32, 64), sizes=(16, 8, 4, 2))
    r = head.region_features(feats, anchors)
    assert r.shape == (2, 48, 8, 8)
    outs = head(feats, anchors)
    assert outs['presence'].shape == (2, 16)
    assert outs['masks'].shape == (2, 1, 16, 16)
    # a size that is not a multiple of the grid is resized up to one
    feats, anchors = _feats(sizes=(10, 10, 10, 10))
    assert _head().region_features(feats, anchors).shape[-2:] == (12, 12)


@pytest.mark.parametrize(
    'mode,keys',
    [
        ('rec', {'loss_region', 'loss_bbox', 'loss_giou'}),
        ('res', {'loss_region', 'loss_mask'}),
        ('rec_res', {'loss_region', 'loss_bbox', 'loss_giou', 'loss_mask'}),
        ('gres', {'loss_region', 'loss_mask'}),
    ],
)
def test_loss_modes(mode, keys):
    head = _head(mode=mode)
    feats, anchors = _feats()
    feats = [f.requires_grad_() for f in feats]
    outs = head(feats, anchors)
    assert ('bboxes' in outs) == (mode in ('rec', 'rec_res'))
    assert ('masks' in outs) == (mode != 'rec')
    losses = head.loss(feats, anchors, _samples())
    assert set(losses) == keys
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert feats[0].grad is None  # stage 1 is left out
    assert feats[1].grad.abs().sum() > 0
    missing = [n for n, p in head.named_parameters() if p.grad is None]
    assert missing == []


def test_loss_targets():
    head = _head(mode='rec_res')
    samples = _samples()
    gt0 = head.gt_merged_mask(samples[0], (64, 64))
    gt1 = head.gt_merged_mask(samples[1], (64, 64))
    assert gt0.sum() == 0  # no target
    assert torch.equal(gt1, samples[1].gt_sem_seg.data[0].bool())
    assert head.gt_box(samples[0]) is None
    boxes = samples[1].gt_instances.bboxes
    torch.testing.assert_close(
        head.gt_box(samples[1]),
        torch.cat([boxes[:, :2].min(0).values, boxes[:, 2:].max(0).values]),
    )
    # from boxes when there is no mask at all
    del samples[1].gt_sem_seg
    del samples[1].gt_instances.masks
    from_boxes = head.gt_merged_mask(samples[1], (64, 64))
    x0, y0, x1, y1 = boxes[0].long().tolist()
    assert from_boxes[y0:y1, x0:x1].all()
    # the merged mask is padded to the batch input shape
    padded = head.gt_merged_mask(_samples(1, 32, False)[0], (40, 48))
    assert padded.shape == (40, 48) and not padded[32:].any()


def test_box_loss_is_zero_without_boxes():
    head = _head(mode='rec')
    feats, anchors = _feats(batch=1)
    samples = _samples(batch=1, no_target_first=True)
    losses = head.loss(feats, anchors, samples)
    assert losses['loss_bbox'] == 0 and losses['loss_giou'] == 0


def _predict(mode, presence_bias, rescale=True, scale=1.0):
    head = _head(mode=mode).eval()
    with torch.no_grad():
        for mlp in head.presence_mlps:
            mlp.layers[-1].bias.fill_(presence_bias)
    feats, anchors = _feats()
    samples = _samples()
    for s in samples:
        h, w = s.img_shape
        s.set_metainfo(
            dict(
                ori_shape=(int(h / scale), int(w / scale)),
                scale_factor=(scale, scale),
            )
        )
    with torch.no_grad():
        results = head.predict(feats, anchors, samples, rescale=rescale)
    return BaseGrounder.add_pred_to_datasample(samples, results)


@pytest.mark.parametrize('mode', ['rec', 'res', 'rec_res', 'gres'])
def test_predict_contract(mode):
    samples = _predict(mode, presence_bias=20.0, scale=2.0)
    for s in samples:
        assert s.pred_sem_seg.data.shape == (1, 32, 32)  # ori_shape
        assert s.pred_sem_seg.data.dtype == torch.bool
        assert s.pred_no_target is False
        assert s.pred_nt_score == pytest.approx(0.0, abs=1e-6)
        inst = s.pred_instances
        assert len(inst) == 1 and inst.bboxes.shape == (1, 4)
        assert inst.scores.shape == (1,) and inst.labels.tolist() == [0]
        assert ('masks' in inst) == (mode != 'rec')
        if 'masks' in inst:
            assert inst.masks.shape == (1, 32, 32)
        b = inst.bboxes[0]
        assert (b >= 0).all() and (b[2:] <= 32).all()


def test_gres_no_target():
    samples = _predict('gres', presence_bias=-20.0)
    for s in samples:
        assert s.pred_no_target is True
        assert s.pred_nt_score == pytest.approx(1.0, abs=1e-6)
        assert not s.pred_sem_seg.data.any()
        assert len(s.pred_instances) == 0
    # the other modes never answer "no target"
    for s in _predict('res', presence_bias=-20.0):
        assert s.pred_no_target is False and len(s.pred_instances) == 1


def test_box_to_image_by_hand():
    head = _head(mode='rec')
    box = torch.tensor([0.5, 0.5, 0.5, 0.5])  # cx, cy, w, h
    meta = dict(img_shape=(40, 64), scale_factor=(2.0, 2.0))
    # padded 64×64: (16, 16, 48, 48); clipped to the 40-row image: y1 = 40
    out = head._box_to_image(box, (64, 64), meta, False, (40, 64))
    torch.testing.assert_close(out, torch.tensor([16.0, 16.0, 48.0, 40.0]))
    out = head._box_to_image(box, (64, 64), meta, True, (20, 32))
    torch.testing.assert_close(out, torch.tensor([8.0, 8.0, 24.0, 20.0]))


def test_bad_mode():
    with pytest.raises(ValueError):
        _head(mode='grec')
