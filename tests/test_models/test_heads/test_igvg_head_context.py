"""IGVGHead with context instances (ours): every object of the image is a
ground truth of the DETR matching; the referred ones are the "target"
class, the others "not target" but still get box and instance-mask
losses; optional category classifier."""

import copy
import math

import numpy as np
import pytest
import torch
from mmdet.models.task_modules.assigners.match_cost import FocalLossCost
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmgres.models.task_modules import ContextFocalLossCost
from mmgres.registry import MODELS, TASK_UTILS

from ..igvg_utils import add_context_instances, fake_batch, tiny_igvg_cfg
from .test_igvg_head import (
    BOX_A,
    BOX_B,
    DEFAULT_ARGS,
    SIZE,
    _feats,
    _sample,
)

FOCAL = dict(
    loss_cls=dict(
        type='FocalLoss', use_sigmoid=True, alpha=0.25, loss_weight=1.0
    ),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ContextFocalLossCost', weight=1.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0),
                dict(type='PointL1Cost', weight=2.0),
            ],
        )
    ),
)


@pytest.fixture(autouse=True)
def _scope():
    with DefaultScope.overwrite_default_scope('mmgres'):
        yield


def _head(**kwargs):
    torch.manual_seed(0)
    cfg = copy.deepcopy(DEFAULT_ARGS)
    cfg.update(copy.deepcopy(kwargs))
    head = MODELS.build(cfg)
    head.init_weights()
    return head


def _target_and_other():
    """Target A (label 0) and another object B (label 1)."""
    (sample,) = add_context_instances([_sample(boxes=(BOX_A,))], (BOX_B,))
    return sample


def _losses_and_grads(head, samples, seed=5):
    levels, img, text, pad = _feats(bsz=len(samples))
    torch.manual_seed(seed)
    losses = head.loss(levels, img, text, pad, copy.deepcopy(samples))
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in head.named_parameters()}
    return losses, grads


def _masks_for(order, num_queries=4):
    """Logits +8 inside the given boxes (per query), -8 elsewhere."""
    m = torch.full((1, num_queries, SIZE, SIZE), -8.0)
    for q, box in order.items():
        x0, y0, x1, y1 = (int(v) for v in box)
        m[0, q, y0:y1, x0:x1] = 8.0
    return m


def test_other_object_gets_box_and_mask_losses_but_not_target_class():
    """Hand-worked: q1 predicts B shifted right by 3.2 px with a high
    target logit, q2 exactly A; q0 and q3 tiny corner boxes. With context
    instances q1 is matched to B: class target 1 (not target), box losses
    from the 3.2 px shift, and B's mask; without, q1 is unmatched and the
    box losses are 0."""
    sample = _target_and_other()
    boxes = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],
            [39.2, 32.0, 63.2, 56.0],  # B = [36, 32, 60, 56], +3.2 in x
            BOX_A,
            [62.0, 0.0, 64.0, 2.0],
        ]
    )
    bbox_preds = bbox_xyxy_to_cxcywh(boxes / SIZE)[None]
    points = bbox_preds[..., :2].clone()
    cls_scores = torch.zeros(1, 4, 2)
    cls_scores[0, 1, 0] = 2.0  # q1 scores high on "target"
    meta = [sample.metainfo]

    head = _head(context_instances=True)
    gts = [head.gt_instances_of(sample, (SIZE, SIZE), context=True)]
    assert gts[0].labels.tolist() == [0, 1]
    (t,) = head.get_targets(cls_scores, bbox_preds, points, gts, meta)
    assert dict(zip(t['pos_inds'].tolist(), t['pos_gt_inds'].tolist())) == {
        1: 1,
        2: 0,
    }
    assert t['labels'].tolist() == [1, 1, 0, 1]
    torch.testing.assert_close(
        t['bbox_targets'][1], bbox_xyxy_to_cxcywh(torch.tensor(BOX_B) / SIZE)
    )
    losses = head.loss_detr_layer(cls_scores, bbox_preds, [t], meta)
    # CE with class weights [1, 0.1], times 0.1; q1 pays
    # -log softmax([2, 0])[1] (not target), q2 -log softmax([0, 0])[0];
    # divided by the head's class-loss average factor
    log2, ce_q1 = math.log(2.0), math.log(1.0 + math.exp(2.0))
    avg = head._cls_avg_factor(t['labels'], 1)
    expected_cls = 0.1 * (0.1 * (2 * log2 + ce_q1) + log2) / avg
    torch.testing.assert_close(losses['loss_cls'], torch.tensor(expected_cls))
    # L1 (weight 0.5) over both matched queries: |0.05| in q1's cx only
    torch.testing.assert_close(losses['loss_bbox'], torch.tensor(0.0125))
    # GIoU (weight 0.2): overlap 20.8 x 24, union = hull = 27.2 x 24
    torch.testing.assert_close(
        losses['loss_iou'], torch.tensor(0.2 * (1 - 20.8 / 27.2) / 2)
    )

    # instance masks: q1 learns B's mask; it is not a negative query
    exact = head.loss_instance_masks(
        _masks_for({1: BOX_B, 2: BOX_A}), [t], gts, (SIZE, SIZE)
    )
    q1_empty = head.loss_instance_masks(
        _masks_for({2: BOX_A}), [t], gts, (SIZE, SIZE)
    )
    assert exact['loss_dice'] < 0.01 and exact['loss_mask'] < 0.01
    assert q1_empty['loss_dice'] > 0.45  # one of two matched masks wrong
    torch.testing.assert_close(
        exact['loss_neg_dice'], q1_empty['loss_neg_dice']
    )

    # the paper's matching (targets only): q1 unmatched, no box loss
    off = _head()
    gts_off = [off.gt_instances_of(sample, (SIZE, SIZE))]
    (t_off,) = off.get_targets(cls_scores, bbox_preds, points, gts_off, meta)
    assert t_off['pos_inds'].tolist() == [2]
    assert t_off['labels'].tolist() == [1, 1, 0, 1]
    losses_off = off.loss_detr_layer(cls_scores, bbox_preds, [t_off], meta)
    assert losses_off['loss_bbox'] == 0 and losses_off['loss_iou'] == 0


@pytest.mark.parametrize('focal', [False, True])
def test_class_cost_gives_the_target_to_the_high_scoring_query(focal):
    """Two queries with the same box; q0's reference point lies 0.6 of the
    way from A's centre to B's, q1's 0.4 (normalised L1 distance between
    the centres: 1.0). The point cost (weight 2) alone prefers q0 -> B,
    q1 -> A by 2 x 0.4 = 0.8. The class cost decides against it: the
    query scoring high on "target" (logit 3 vs -3) gets the referred
    object A, the other one the other object B (softmax: the two
    matchings differ by 2 (p_high - p_low) = 1.81; focal: by 5.5). If the
    other objects were costed as targets the class cost could not tell
    the matchings apart and q0 would always take B."""
    head = _head(context_instances=True, **(FOCAL if focal else {}))
    sample = _target_and_other()
    gts = [head.gt_instances_of(sample, (SIZE, SIZE), context=True)]
    box = torch.tensor([[20.0, 20.0, 44.0, 44.0]] * 2)
    bbox_preds = bbox_xyxy_to_cxcywh(box / SIZE)[None]
    centre_a = torch.tensor([12.0, 16.0]) / SIZE
    centre_b = torch.tensor([48.0, 44.0]) / SIZE
    points = torch.stack(
        [centre_a + f * (centre_b - centre_a) for f in (0.6, 0.4)]
    )[None]
    for high, low in ((0, 1), (1, 0)):
        cls = torch.zeros(1, 2, head.cls_out_channels)
        cls[0, high, 0], cls[0, low, 0] = 3.0, -3.0
        (t,) = head.get_targets(
            cls, bbox_preds, points, gts, [sample.metainfo]
        )
        match = dict(zip(t['pos_inds'].tolist(), t['pos_gt_inds'].tolist()))
        assert match == {high: 0, low: 1}
        assert t['labels'][high] == 0 and t['labels'][low] == 1
    # without the class cost the point cost wins: q0 -> B
    no_cls = copy.deepcopy(FOCAL['train_cfg'])
    no_cls['assigner']['match_costs'] = no_cls['assigner']['match_costs'][1:]
    plain = _head(context_instances=True, train_cfg=no_cls)
    (t,) = plain.get_targets(
        torch.zeros(1, 2, 2), bbox_preds, points, gts, [sample.metainfo]
    )
    assert dict(zip(t['pos_inds'].tolist(), t['pos_gt_inds'].tolist())) == {
        0: 1,
        1: 0,
    }


def test_context_focal_loss_cost_hand_computed():
    """One sigmoid logit; a target (label 0) costs pos - neg as mmdet's
    FocalLossCost, a background object (label 1) neg - pos."""
    alpha, eps = 0.25, 1e-12
    logits = torch.tensor([[0.0], [2.0]])
    labels = torch.tensor([0, 1])
    cost = ContextFocalLossCost(weight=2.0)(
        InstanceData(scores=logits), InstanceData(labels=labels)
    )
    expected = []
    for x in (0.0, 2.0):
        p = 1 / (1 + math.exp(-x))
        pos = -math.log(p + eps) * alpha * (1 - p) ** 2
        neg = -math.log(1 - p + eps) * (1 - alpha) * p**2
        expected.append([2 * (pos - neg), 2 * (neg - pos)])
    torch.testing.assert_close(cost, torch.tensor(expected))
    # the target columns are mmdet's cost, bit for bit
    mmdet = FocalLossCost(weight=2.0)(
        InstanceData(scores=logits), InstanceData(labels=labels[:1])
    )
    assert torch.equal(cost[:, :1], mmdet)
    assert isinstance(
        TASK_UTILS.build(dict(type='ContextFocalLossCost')),
        ContextFocalLossCost,
    )
    with pytest.raises(ValueError, match='background'):
        ContextFocalLossCost()(
            InstanceData(scores=logits),
            InstanceData(labels=torch.tensor([2])),
        )


def _context_batch():
    """A no-target sample whose image holds one other object, and a
    padded sample (image 48x64 in the 64x64 batch, masks at 48x64 as the
    data preprocessor leaves gt_context_instances) with target A and one
    other object."""
    other = (40.0, 30.0, 60.0, 46.0)
    nt, padded = add_context_instances(
        [
            _sample(no_target=True),
            _sample(boxes=(BOX_A,), img_shape=(48, SIZE)),
        ],
        (other,),
    )
    ctx = padded.gt_context_instances
    ctx.masks = BitmapMasks(ctx.masks.masks[:, :48], 48, SIZE)
    return [nt, padded]


def test_loss_terms_finite_and_category_classifier_trained():
    head = _head(context_instances=True, num_context_classes=3)
    torch.nn.init.zeros_(head.context_cls_embed.weight)
    torch.nn.init.zeros_(head.context_cls_embed.bias)
    losses, _ = _losses_and_grads(head, _context_batch())
    expected = {
        'd0.loss_cls',
        'd0.loss_bbox',
        'd0.loss_iou',
        'd0.loss_context_cls',
        'loss_cls',
        'loss_bbox',
        'loss_iou',
        'loss_context_cls',
        'loss_mask',
        'loss_dice',
        'loss_neg_mask',
        'loss_neg_dice',
        'loss_global_mask',
        'loss_global_dice',
        'loss_nt',
        'loss_minimap_bce',
        'loss_minimap_dice',
    }
    assert set(losses) == expected
    for k, v in losses.items():
        assert torch.isfinite(v) and v >= 0, k
    # zero classifier: uniform over 3 categories, CE = log 3 for every
    # matched query (all 3 objects of the batch), weight 1
    for k in ('loss_context_cls', 'd0.loss_context_cls'):
        torch.testing.assert_close(losses[k], torch.tensor(math.log(3.0)))
    assert head.context_cls_embed.weight.grad.abs().sum() > 0
    assert head.context_cls_embed.bias.grad.abs().sum() > 0
    assert head.cls_branches[0].weight.grad.abs().sum() > 0


def test_no_target_sample_learns_its_other_objects():
    """A no-target image with one other object: with context instances
    that object gets a box, a mask and the "not target" class; the paper's
    matching has nothing to match."""
    (nt, _) = _context_batch()
    on, _ = _losses_and_grads(_head(context_instances=True), [nt])
    off, _ = _losses_and_grads(_head(), [nt])
    for k in ('loss_bbox', 'loss_iou', 'loss_mask', 'loss_dice'):
        assert on[k] > 0, k
        assert off[k] == 0, k


def test_focal_classification_with_context_runs():
    head = _head(context_instances=True, **FOCAL)
    losses, grads = _losses_and_grads(head, _context_batch())
    assert all(torch.isfinite(v) for v in losses.values())
    assert grads['cls_branches.0.weight'].abs().sum() > 0


def test_option_off_is_the_paper_head_bit_for_bit():
    samples = [_sample(no_target=True), _sample()]
    ref, ref_grads = _losses_and_grads(_head(), samples)
    off, off_grads = _losses_and_grads(
        _head(context_instances=False, num_context_classes=0), samples
    )
    assert ref.keys() == off.keys()
    for k in ref:
        assert torch.equal(ref[k], off[k]), k
    for n, g in ref_grads.items():
        assert torch.equal(g, off_grads[n]), n
    # context instances that are the targets alone: the same losses
    only_targets = add_context_instances(copy.deepcopy(samples), ())
    same, same_grads = _losses_and_grads(
        _head(context_instances=True), only_targets
    )
    for k in ref:
        assert torch.equal(ref[k], same[k]), k
    for n, g in ref_grads.items():
        assert torch.equal(g, same_grads[n]), n
    # ... and one more object changes them
    more = add_context_instances(copy.deepcopy(samples), ((0, 40, 20, 60),))
    changed, _ = _losses_and_grads(_head(context_instances=True), more)
    assert not torch.equal(ref['loss_bbox'], changed['loss_bbox'])


def test_context_errors():
    head = _head(context_instances=True)
    levels, img, text, pad = _feats()
    with pytest.raises(ValueError, match='with_context=True'):
        head.loss(levels, img, text, pad, [_sample(), _sample()])
    with pytest.raises(ValueError, match='context_instances=True'):
        _head(num_context_classes=3)
    with pytest.raises(ValueError, match='num_context_classes'):
        _head(context_instances=True, num_context_classes=-1)
    # sigmoid classification with mmdet's FocalLossCost: label 1 has no
    # logit
    plain_focal = copy.deepcopy(FOCAL)
    plain_focal['train_cfg']['assigner']['match_costs'][0]['type'] = (
        'FocalLossCost'
    )
    with pytest.raises(ValueError, match='ContextFocalLossCost'):
        _head(context_instances=True, **plain_focal)
    _head(**plain_focal)  # fine without context instances
    # categories missing, or beyond num_context_classes
    head = _head(context_instances=True, num_context_classes=2)
    samples = _context_batch()  # categories 0, 1 and 0, 1
    del samples[1].gt_context_instances.categories
    with pytest.raises(ValueError, match='categories'):
        head.loss(levels, img, text, pad, samples)
    samples = _context_batch()
    samples[1].gt_context_instances.categories = torch.tensor([0, 2])
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        head.loss(levels, img, text, pad, samples)


def test_grounder_with_context_instances():
    """The whole tiny IGVG through its data preprocessor."""
    cfg = tiny_igvg_cfg()
    cfg.head.update(context_instances=True, num_context_classes=3)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=add_context_instances(samples)),
        True,
    )
    losses = model(**data, mode='loss')
    assert 'loss_context_cls' in losses and 'd0.loss_context_cls' in losses
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.head.context_cls_embed.weight.grad.abs().sum() > 0
    assert np.isfinite(float(losses['loss_bbox']))


def test_cls_avg_factor_keeps_float_class_weights():
    """DETR's averaging of the softmax CE: the sum of the class weights of
    the labels, pos * 1.0 + neg * 0.1 (not truncated to int weights)."""
    head = _head()
    head.loss_cls.class_weight = [1.0, 0.1]
    labels = torch.tensor([0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1])
    assert math.isclose(head._cls_avg_factor(labels, 2), 3.0, rel_tol=1e-6)
