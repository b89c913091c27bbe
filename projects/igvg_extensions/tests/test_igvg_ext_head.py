"""IGVGExtendedHead: context instances (every object of the image is a
ground truth of the matching), the text-aware classifier and decoder, the
mask embedding and the coarse mask losses."""

import copy
import math

import pytest
import torch
from igvg_ext_utils import DEFAULT_ARGS, build_head
from mmdet.models.task_modules.assigners.match_cost import FocalLossCost
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData
from test_models.igvg_utils import (
    BOX_A,
    BOX_B,
    SIZE,
    Q,
    add_context_instances,
    focal_head_args,
    head_inputs,
    head_sample,
)

from mmgres.models.heads import IGVGHead
from mmgres.models.task_modules import ContextFocalLossCost
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS, TASK_UTILS
from projects.igvg_extensions.igvg_extensions import (
    TextDeformableDetrDecoderLayer,
)

FOCAL = focal_head_args('ContextFocalLossCost')


@pytest.fixture(autouse=True)
def _scope():
    with DefaultScope.overwrite_default_scope('mmgres'):
        yield


def _target_and_other():
    """Target A (label 0) and another object B (label 1)."""
    (s,) = add_context_instances([head_sample(boxes=(BOX_A,))], (BOX_B,))
    return s


def _losses_and_grads(head, samples, seed=5):
    levels, img, text, pad = head_inputs(bsz=len(samples))
    torch.manual_seed(seed)
    losses = head.loss(levels, img, text, pad, copy.deepcopy(samples))
    sum(v.sum() for v in losses.values()).backward()
    grads = {n: p.grad for n, p in head.named_parameters()}
    return losses, grads


def _masks_for(order, num_queries=Q):
    """Logits +8 inside the given boxes (per query), -8 elsewhere."""
    m = torch.full((1, num_queries, SIZE, SIZE), -8.0)
    for q, box in order.items():
        x0, y0, x1, y1 = (int(v) for v in box)
        m[0, q, y0:y1, x0:x1] = 8.0
    return m


def test_is_igvg_head_and_needs_the_text_modules():
    head = build_head()
    assert isinstance(head, IGVGHead)
    text = torch.zeros(1, 2, 16)
    assert set(head.text_inputs(text, None)) == {
        'text_feats',
        'text_padding_mask',
    }
    with pytest.raises(TypeError, match='TextGatedUNetMaskDecoder'):
        build_head(mask_decoder=dict(type='UNetMaskDecoder', num_convs=1))
    with pytest.raises(TypeError, match='SentenceNoTargetBranch'):
        build_head(nt_branch=dict(type='NoTargetBranch', feat_channels=16))


def test_other_object_gets_box_and_mask_losses_but_not_target_class():
    """Hand-worked: q1 predicts B shifted right by 3.2 px with a high
    target logit, q2 exactly A; q0 and q3 tiny corner boxes. With context
    instances q1 is matched to B: class target 1 (not target), box losses
    from the 3.2 px shift, and B's mask; without, q1 is unmatched and the
    box losses are 0."""
    s = _target_and_other()
    boxes = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],
            [39.2, 32.0, 63.2, 56.0],  # B = [36, 32, 60, 56], +3.2 in x
            BOX_A,
            [62.0, 0.0, 64.0, 2.0],
        ]
    )
    bbox_preds = bbox_xyxy_to_cxcywh(boxes / SIZE)
    cls_scores = torch.zeros(4, 2)
    cls_scores[1, 0] = 2.0  # q1 scores high on "target"
    meta = dict(s.metainfo, ref_points=bbox_preds[:, :2].clone())

    head = build_head(context_instances=True)
    gt = referring_targets(s, (SIZE, SIZE), context=True)
    assert gt.labels.tolist() == [0, 1]
    pos, pos_gt = head.assign(cls_scores, bbox_preds, gt, meta)
    assert dict(zip(pos.tolist(), pos_gt.tolist())) == {1: 1, 2: 0}
    labels = head._get_targets_single(cls_scores, bbox_preds, gt, meta)[0]
    assert labels.tolist() == [1, 1, 0, 1]
    loss_cls, loss_bbox, loss_iou = head.loss_by_feat_single(
        cls_scores[None], bbox_preds[None], [gt], [meta]
    )
    # CE with class weights [1, 0.1], times 0.1; q1 pays
    # -log softmax([2, 0])[1] (not target), q2 -log softmax([0, 0])[0],
    # q0 and q3 log 2 at weight 0.1; DETR's average: 2 matched + 0.1 x 2
    log2, ce_q1 = math.log(2.0), math.log(1.0 + math.exp(2.0))
    expected_cls = 0.1 * (0.1 * (2 * log2 + ce_q1) + log2) / 2.2
    torch.testing.assert_close(
        loss_cls.reshape(()), torch.tensor(expected_cls)
    )
    # L1 (weight 0.5) over both matched queries: |0.05| in q1's cx only
    torch.testing.assert_close(loss_bbox, torch.tensor(0.0125))
    # GIoU (weight 0.2): overlap 20.8 x 24, union = hull = 27.2 x 24
    torch.testing.assert_close(
        loss_iou, torch.tensor(0.2 * (1 - 20.8 / 27.2) / 2)
    )

    # instance masks: q1 learns B's mask; it is not a negative query
    exact = head.loss_instance_masks(
        _masks_for({1: BOX_B, 2: BOX_A}), [(pos, pos_gt)], [gt]
    )
    q1_empty = head.loss_instance_masks(
        _masks_for({2: BOX_A}), [(pos, pos_gt)], [gt]
    )
    assert exact['loss_dice'] < 0.01 and exact['loss_mask'] < 0.01
    assert q1_empty['loss_dice'] > 0.45  # one of two matched masks wrong
    torch.testing.assert_close(
        exact['loss_neg_dice'], q1_empty['loss_neg_dice']
    )

    # IGVG's matching (targets only): q1 unmatched, no box loss
    off = build_head()
    gt_off = referring_targets(s, (SIZE, SIZE))
    pos_off, _ = off.assign(cls_scores, bbox_preds, gt_off, meta)
    assert pos_off.tolist() == [2]
    _, bbox_off, iou_off = off.loss_by_feat_single(
        cls_scores[None], bbox_preds[None], [gt_off], [meta]
    )
    assert bbox_off == 0 and iou_off == 0


@pytest.mark.parametrize('focal', [False, True])
def test_class_cost_gives_the_target_to_the_high_scoring_query(focal):
    """Two queries with the same box; q0's reference point lies 0.6 of the
    way from A's centre to B's, q1's 0.4 (normalised L1 distance between
    the centres: 1.0). The point cost (weight 2) alone prefers q0 -> B,
    q1 -> A by 2 x 0.4 = 0.8. The class cost decides against it: the
    query scoring high on "target" (logit 3 vs -3) gets the referred
    object A, the other one the other object B."""
    head = build_head(context_instances=True, **(FOCAL if focal else {}))
    s = _target_and_other()
    gt = referring_targets(s, (SIZE, SIZE), context=True)
    box = torch.tensor([[20.0, 20.0, 44.0, 44.0]] * 2)
    bbox_preds = bbox_xyxy_to_cxcywh(box / SIZE)
    centre_a = torch.tensor([12.0, 16.0]) / SIZE
    centre_b = torch.tensor([48.0, 44.0]) / SIZE
    points = torch.stack(
        [centre_a + f * (centre_b - centre_a) for f in (0.6, 0.4)]
    )
    meta = dict(s.metainfo, ref_points=points)
    for high, low in ((0, 1), (1, 0)):
        cls = torch.zeros(2, head.cls_out_channels)
        cls[high, 0], cls[low, 0] = 3.0, -3.0
        pos, pos_gt = head.assign(cls, bbox_preds, gt, meta)
        assert dict(zip(pos.tolist(), pos_gt.tolist())) == {high: 0, low: 1}
    # without the class cost the point cost wins: q0 -> B
    no_cls = copy.deepcopy(FOCAL['train_cfg'])
    no_cls['assigner']['match_costs'] = no_cls['assigner']['match_costs'][1:]
    plain = build_head(context_instances=True, train_cfg=no_cls)
    pos, pos_gt = plain.assign(torch.zeros(2, 2), bbox_preds, gt, meta)
    assert dict(zip(pos.tolist(), pos_gt.tolist())) == {0: 1, 1: 0}


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


def _context_batch():
    """A no-target sample whose image holds one other object, and a
    padded sample (image 48x64 in the 64x64 batch, masks at 48x64 as the
    data preprocessor leaves gt_context_instances) with target A and one
    other object."""
    other = (40.0, 30.0, 60.0, 46.0)
    nt, padded = add_context_instances(
        [
            head_sample(no_target=True),
            head_sample(boxes=(BOX_A,), img_shape=(48, SIZE)),
        ],
        (other,),
    )
    ctx = padded.gt_context_instances
    ctx.masks = BitmapMasks(ctx.masks.masks[:, :48], 48, SIZE)
    return [nt, padded]


def test_loss_terms_finite_and_category_classifier_trained():
    head = build_head(context_instances=True, num_context_classes=3)
    torch.nn.init.zeros_(head.context_cls_embed.weight)
    torch.nn.init.zeros_(head.context_cls_embed.bias)
    losses, _ = _losses_and_grads(head, _context_batch())
    expected = {'d0.loss_cls', 'd0.loss_bbox', 'd0.loss_iou'}
    expected |= {'d0.loss_context_cls', 'loss_context_cls'}
    expected |= {'loss_cls', 'loss_bbox', 'loss_iou', 'loss_nt'}
    expected |= {'loss_mask', 'loss_dice', 'loss_neg_mask', 'loss_neg_dice'}
    expected |= {'loss_global_mask', 'loss_global_dice'}
    expected |= {'loss_minimap_bce', 'loss_minimap_dice'}
    assert set(losses) == expected
    for k, v in losses.items():
        assert torch.isfinite(v).all() and (v >= 0).all(), k
    # zero classifier: uniform over 3 categories, CE = log 3 for every
    # matched query (all 3 objects of the batch), weight 1
    for k in ('loss_context_cls', 'd0.loss_context_cls'):
        torch.testing.assert_close(losses[k], torch.tensor(math.log(3.0)))
    assert head.context_cls_embed.weight.grad.abs().sum() > 0
    assert head.cls_branches[0].weight.grad.abs().sum() > 0


def test_no_target_sample_learns_its_other_objects():
    (nt, _) = _context_batch()
    on, _ = _losses_and_grads(build_head(context_instances=True), [nt])
    off, _ = _losses_and_grads(build_head(), [nt])
    for k in ('loss_bbox', 'loss_iou', 'loss_mask', 'loss_dice'):
        assert on[k] > 0, k
        assert off[k] == 0, k


def test_focal_classification_with_context_runs():
    head = build_head(context_instances=True, **FOCAL)
    losses, grads = _losses_and_grads(head, _context_batch())
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert grads['cls_branches.0.weight'].abs().sum() > 0


def test_context_of_the_targets_alone_is_the_plain_matching():
    samples = [head_sample(no_target=True), head_sample()]
    ref, ref_grads = _losses_and_grads(build_head(), samples)
    only_targets = add_context_instances(copy.deepcopy(samples), ())
    same, same_grads = _losses_and_grads(
        build_head(context_instances=True), only_targets
    )
    for k in ref:
        assert torch.equal(ref[k], same[k]), k
    for n, g in ref_grads.items():
        assert torch.equal(g, same_grads[n]), n
    more = add_context_instances(copy.deepcopy(samples), ((0, 40, 20, 60),))
    changed, _ = _losses_and_grads(build_head(context_instances=True), more)
    assert not torch.equal(ref['loss_bbox'], changed['loss_bbox'])


def test_context_errors():
    head = build_head(context_instances=True)
    levels, img, text, pad = head_inputs()
    with pytest.raises(KeyError, match='with_context=True'):
        head.loss(levels, img, text, pad, [head_sample(), head_sample()])
    with pytest.raises(ValueError, match='context_instances=True'):
        build_head(num_context_classes=3)
    with pytest.raises(ValueError, match='num_context_classes'):
        build_head(context_instances=True, num_context_classes=-1)
    plain_focal = focal_head_args('FocalLossCost')
    with pytest.raises(ValueError, match='ContextFocalLossCost'):
        build_head(context_instances=True, **plain_focal)
    build_head(**plain_focal)  # fine without context instances
    head = build_head(context_instances=True, num_context_classes=2)
    samples = _context_batch()  # categories 0, 1 and 0, 1
    del samples[1].gt_context_instances.categories
    with pytest.raises(ValueError, match='categories'):
        head.loss(levels, img, text, pad, samples)
    samples = _context_batch()
    samples[1].gt_context_instances.categories = torch.tensor([0, 2])
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        head.loss(levels, img, text, pad, samples)


def test_cls_text_attn_only_touches_the_classification():
    head = build_head(cls_text_attn_cfg=dict(num_heads=2)).eval()
    levels, img, text, pad = head_inputs()
    outs = head(levels, img, text, pad)
    outs['cls_scores'].sum().backward()
    grads = [p.grad for p in head.cls_text_attn.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # the padded words are not attended: changing them changes nothing
    text2 = text.clone()
    text2[0, 4:] = 100.0
    with torch.no_grad():
        a = head(levels, img, text, pad)
        b = head(levels, img, text2, pad)
    torch.testing.assert_close(a['cls_scores'][:, 0], b['cls_scores'][:, 0])
    # without the attention the boxes stay, the class scores change
    head.cls_text_attn = None
    with torch.no_grad():
        c = head(levels, img, text, pad)
    torch.testing.assert_close(a['bbox_preds'], c['bbox_preds'])
    torch.testing.assert_close(a['mask_preds'], c['mask_preds'])
    assert (a['cls_scores'] - c['cls_scores']).abs().max() > 1e-4


def test_decoder_text_attn_puts_the_words_in_every_decoder_layer():
    head = build_head(decoder_text_attn_cfg=dict(num_heads=2))
    assert all(
        isinstance(layer, TextDeformableDetrDecoderLayer)
        for layer in head.decoder.layers
    )
    levels, img, text, pad = head_inputs()
    losses = head.loss(levels, img, text, pad, [head_sample(), head_sample()])
    assert all(torch.isfinite(v).all() for v in losses.values())
    sum(v.sum() for v in losses.values()).backward()
    for layer in head.decoder.layers:
        w = layer.text_attn.attn.in_proj_weight
        assert w.grad is not None and w.grad.abs().sum() > 0
    # without the option the layers are mmdet's
    assert not any(
        isinstance(layer, TextDeformableDetrDecoderLayer)
        for layer in build_head().decoder.layers
    )


def test_mask_embedding():
    head = build_head(num_mask_embed_layers=3).eval()
    assert len(head.mask_embed.layers) == 3
    levels, img, text, pad = head_inputs()
    with torch.no_grad():
        outs = head(levels, img, text, pad)
    expected = torch.einsum(
        'bqc,bchw->bqhw',
        head.mask_embed(outs['queries'][-1]),
        outs['s_global'],
    )
    torch.testing.assert_close(outs['mask_preds'], expected)
    assert build_head().mask_embed is None


def test_mask_loss_stride_compares_at_coarse_size():
    """Stride 4 on the 64 x 64 batch: the 16 x 16 logits against the
    targets' cover fractions. A = x [4, 20), y [4, 28) covers the 4 x 6
    cells of columns 1-4 and rows 1-6 fully, nothing else."""
    head = build_head(mask_loss_stride=4)
    gt = referring_targets(head_sample(boxes=(BOX_A,)), (SIZE, SIZE))
    coarse = head.coarse_targets(gt.masks)
    assert coarse.shape == (1, 16, 16)
    assert coarse[0, 1, 1] == 1 and coarse[0, 0, 0] == 0
    assert coarse[0, 1, 5] == 0 and coarse.sum() == 16 * 24 / 16
    # a mask half over a cell gives 0.5
    half = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    half[0, :2, :4] = True
    assert head.coarse_targets(half)[0, 0, 0] == 0.5
    logits = torch.zeros(1, Q, 16, 16)
    assignment = [(torch.tensor([0]), torch.tensor([0]))]
    coarse_loss = head.loss_instance_masks(logits, assignment, [gt])
    fine_loss = build_head().loss_instance_masks(logits, assignment, [gt])
    # zero logits: BCE log 2 either way; dice 1 - (2 * 0.5 * a + 1) /
    # (0.5 * n + a + 1) with n pixels and a the target area
    for loss, n, a in ((coarse_loss, 256, 24.0), (fine_loss, 4096, 384.0)):
        torch.testing.assert_close(
            loss['loss_mask'], torch.tensor(math.log(2.0))
        )
        dice = 1 - (a + 1) / (0.5 * n + a + 1)
        torch.testing.assert_close(loss['loss_dice'], torch.tensor(dice))


def test_registered():
    assert MODELS.get('IGVGExtendedHead') is type(build_head())
    assert DEFAULT_ARGS['type'] == 'IGVGExtendedHead'
