"""RegionAwareHead: Eq. 10, loss and predict for REC, RES and GRES."""

import copy
import math

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmgres.models.grounders import BaseGrounder
from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs
from mmgres.utils import register_all_modules

from ..raam_utils import VIT_BASE

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


def _constant_presence(head, logit):
    with torch.no_grad():
        for mlp in head.presence_mlps:
            mlp.layers[-1].weight.zero_()
            mlp.layers[-1].bias.fill_(logit)


def _softplus(x):
    return math.log1p(math.exp(x))


def test_merged_ground_truth_is_merged_target():
    """L_r's region targets come from referring_targets.merged_targets:
    255 (ignore) is background, and a no-target sample is empty."""
    head = _head(mode='gres')
    _constant_presence(head, 2.0)
    feats, anchors = _feats(batch=1)
    sample = _samples(batch=1, no_target_first=False)[0]
    seg = torch.zeros(1, 64, 64, dtype=torch.uint8)
    seg[0, 20:30, 20:30] = 1  # region (1, 1): n = 5 of the 4x4 grid
    seg[0, 0:8, 40:48] = 255  # ignored, in region (0, 2)
    sample.gt_sem_seg = PixelData(data=seg)
    losses = head.loss(feats, anchors, [sample])
    # one positive region, BCE(2, 1) = softplus(-2); 15 negative ones,
    # BCE(2, 0) = softplus(2)
    expected = _softplus(-2.0) + 15 * _softplus(2.0)
    assert losses['loss_region'].item() == pytest.approx(expected, rel=1e-5)
    sample.set_metainfo(dict(no_target=True))
    losses = head.loss(feats, anchors, [sample])
    expected = 16 * _softplus(2.0)
    assert losses['loss_region'].item() == pytest.approx(expected, rel=1e-5)


def test_gt_box():
    samples = _samples()
    head = _head(mode='rec_res')
    assert head.gt_box(samples[0]) is None  # no target
    boxes = samples[1].gt_instances.bboxes
    torch.testing.assert_close(
        head.gt_box(samples[1]),
        torch.cat([boxes[:, :2].min(0).values, boxes[:, 2:].max(0).values]),
    )


# A box by hand in a 100 x 100 padded input: the ground truth (20, 30, 60,
# 50) xyxy is (0.4, 0.4, 0.4, 0.2) cx, cy, w, h normalised; the prediction
# (0.7, 0.405, 0.38, 0.2) is off by (0.3, 0.005, -0.02, 0).
BOX_PRED = torch.tensor([[0.7, 0.405, 0.38, 0.2]])


def _box_sample():
    sample = DetDataSample(metainfo=dict(batch_input_shape=(100, 100)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[20.0, 30.0, 60.0, 50.0]]),
        labels=torch.zeros(1, dtype=torch.long),
    )
    return sample


def _config_box_head():
    """The head with the losses of the paper's config."""
    head_cfg = Config.fromfile(VIT_BASE).model.head
    return _head(
        mode='rec',
        loss_bbox=head_cfg.loss_bbox,
        loss_giou=head_cfg.loss_giou,
    )


def test_eq13_box_terms_are_weighted_1_to_1():
    """Eq. 13: L_p^det = L_smooth-L1 + L_giou, each with weight 1."""
    losses = _config_box_head()._box_losses(
        BOX_PRED, [_box_sample()], (100, 100)
    )
    # prediction xyxy (0.51, 0.305, 0.89, 0.505) against (0.2, 0.3, 0.6,
    # 0.5): intersection 0.09 x 0.195, union 0.076 + 0.08 - it, enclosing
    # box 0.69 x 0.205
    inter = 0.09 * 0.195
    union = 0.076 + 0.08 - inter
    enclose = 0.69 * 0.205
    giou = inter / union - (enclose - union) / enclose
    assert losses['loss_giou'].item() == pytest.approx(1 - giou, rel=1e-4)
    # smooth-L1 (beta 0.01) summed over the 4 coordinates of the one box
    assert losses['loss_bbox'].item() == pytest.approx(0.31125, rel=1e-3)


def test_smooth_l1_beta_makes_it_l1_on_normalised_boxes():
    """Eq. 13's smooth L1 with beta = 0.01 (ours): |x| - 0.005 beyond
    0.01, 0.5 x^2 / 0.01 below; mmdet's beta = 1 would be 0.5 x^2
    everywhere on [0, 1] boxes."""
    head = _config_box_head()
    assert head.loss_bbox.beta == _head(mode='rec').loss_bbox.beta == 0.01
    losses = head._box_losses(BOX_PRED, [_box_sample()], (100, 100))
    # 0.3 - 0.005 + 0.5 * 0.005^2 / 0.01 + 0.02 - 0.005 + 0
    expected = 0.295 + 0.00125 + 0.015
    assert losses['loss_bbox'].item() == pytest.approx(expected, rel=1e-3)
    l2 = 0.5 * (0.3**2 + 0.005**2 + 0.02**2)  # beta = 1: 0.0452
    assert losses['loss_bbox'].item() > 6 * l2


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
