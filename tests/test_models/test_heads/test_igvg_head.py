"""IGVGHead: forward, losses, the point-guided and query-instance matching,
and the post-processing, on tiny random inputs and hand-made outputs."""

import copy
import math

import pytest
import torch
from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from mmgres.models.heads import IGVGHead
from mmgres.models.heads.igvg.matching import assign_layer, with_ref_points
from mmgres.models.utils.referring_targets import referring_targets
from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

from ..igvg_utils import (
    BOX_A,
    BOX_B,
    SIZE,
    TINY_HEAD,
    C,
    Q,
    build_head,
    focal_head_args,
    head_inputs,
    head_sample,
)

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def _scope():
    with DefaultScope.overwrite_default_scope('mmgres'):
        yield


def test_forward_shapes():
    head = build_head().eval()
    levels, img, text, pad = head_inputs()
    with torch.no_grad():
        outs = head(levels, img, text, pad)
    assert outs['cls_scores'].shape == (2, 2, Q, 2)
    assert outs['bbox_preds'].shape == (2, 2, Q, 4)
    assert outs['points'].shape == (2, Q, 2)
    assert outs['queries'].shape == (2, 2, Q, C)
    assert outs['mask_preds'].shape == (2, Q, 16, 16)
    assert outs['global_mask'].shape == (2, 1, 16, 16)
    assert outs['nt_logits'].shape == (2, 2)
    assert outs['score_map'].shape == (2, 4, 4)
    assert ((outs['bbox_preds'] > 0) & (outs['bbox_preds'] < 1)).all()
    # without box refinement, the box centre is an offset (in logit space)
    # from the query's DPS point: the points are cell centres of the 4x4 map
    cells = outs['points'] * 4 - 0.5
    torch.testing.assert_close(cells, cells.round())
    # Q_s = Q_d . S_global (IGVG Sec. 3.1.2, "the dot product between Q_d
    # and S_global"; InstanceVG's uni_gref_deformable_head.py:
    # torch.einsum("bqc,bchw->bqhw", inter_states[-1], pred_mask)): no
    # MLP on the queries by default
    expected = torch.einsum(
        'bqc,bchw->bqhw', outs['queries'][-1], outs['s_global']
    )
    torch.testing.assert_close(outs['mask_preds'], expected)
    assert not hasattr(head, 'mask_embed')


def test_head_is_mmdet_deformable_detr_head():
    head = build_head()
    assert isinstance(head, DeformableDETRHead)
    # Deformable DETR's branches, shared by all layers as InstanceVG's
    assert head.cls_branches[0] is head.cls_branches[1]
    assert head.reg_branches[0] is head.reg_branches[1]
    assert len(head.reg_branches[0].layers) == 3
    # the 2-class CE averaged as DETR: pos + bg_cls_weight * neg
    assert head.bg_cls_weight == 0.1 and head.sync_cls_avg_factor


def test_no_target_branch_reads_s_global_only():
    """IGVG Sec. 3: S_global guides the non-target prediction;
    InstanceVG: nt_embed(pred_mask.flatten(2).transpose(1, 2)).mean(1),
    no text. The words reach only AQG: changing a real word moves the
    queries but neither S_global, the global mask nor the NT logits."""
    head = build_head().eval()
    assert head.text_inputs(None, None) == {}
    assert not any('text' in n for n, _ in head.nt_branch.named_parameters())
    levels, img, text, pad = head_inputs()
    text2 = text.clone()
    text2[:, 0] += 3.0
    with torch.no_grad():
        a = head(levels, img, text, pad)
        b = head(levels, img, text2, pad)
    for k in ('s_global', 'global_mask', 'nt_logits'):
        torch.testing.assert_close(a[k], b[k])
    assert not torch.allclose(a['queries'], b['queries'])


def test_loss_all_terms_and_backward():
    head = build_head()
    levels, img, text, pad = head_inputs()
    samples = [head_sample(no_target=True), head_sample()]
    losses = head.loss(levels, img, text, pad, samples)
    expected = {
        'd0.loss_cls',
        'd0.loss_bbox',
        'd0.loss_iou',
        'loss_cls',
        'loss_bbox',
        'loss_iou',
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
    sum(losses.values()).backward()
    for name, module in (
        ('query_pos', head.query_pos),
        ('cls', head.cls_branches[0]),
        ('nt', head.nt_branch.cls_fc),
        ('unet', head.mask_decoder.mask_conv),
        ('itq', head.aqg.query_injector.mlp.layers[0]),
    ):
        assert module.weight.grad is not None, name
        assert module.weight.grad.abs().sum() > 0, name
    attn = head.decoder.layers[0].cross_attn.sampling_offsets
    assert attn.weight.grad.abs().sum() > 0


def test_loss_no_target_only_batch_and_switches():
    head = build_head(neg_weight=0.0)
    levels, img, text, pad = head_inputs(bsz=1)
    losses = head.loss(levels, img, text, pad, [head_sample(no_target=True)])
    assert 'loss_neg_mask' not in losses
    for k in ('loss_bbox', 'loss_iou', 'loss_mask', 'loss_dice'):
        assert losses[k] == 0, k
    assert losses['loss_cls'] > 0 and losses['loss_nt'] > 0
    with pytest.raises(ValueError, match='neg_weight'):
        build_head(neg_weight=-1.0)
    with pytest.raises(ValueError, match='nt_rule'):
        build_head(test_cfg=dict(nt_rule='vote'))


def test_negative_term_is_averaged_over_unmatched_queries():
    """Hand check: unmatched masks at logit -x everywhere against empty
    targets cost BCE softplus(-x) per pixel and dice 1 - 1 / (n σ(-x) + 1)
    per mask (n pixels, naive dice, eps 1), times λ_neg = 0.2."""
    head = build_head()
    assignment = [(torch.tensor([0]), torch.tensor([0]))]
    gts = [referring_targets(head_sample(boxes=(BOX_A,)), (SIZE, SIZE))]
    mask_preds = torch.full((1, Q, 16, 16), -2.0)
    mask_preds[0, 0] = 3.0
    losses = head.loss_instance_masks(mask_preds, assignment, gts)
    n = SIZE * SIZE
    sig = torch.sigmoid(torch.tensor(-2.0))
    bce = torch.nn.functional.softplus(torch.tensor(-2.0))
    torch.testing.assert_close(losses['loss_neg_mask'], 0.2 * bce)
    torch.testing.assert_close(
        losses['loss_neg_dice'], 0.2 * (1 - 1 / (n * sig + 1))
    )
    # the matched query predicts the whole image for a 16x24 object
    inter, area = 16 * 24, n
    p = torch.sigmoid(torch.tensor(3.0))
    dice = 1 - (2 * p * inter + 1) / (p * area + inter + 1)
    torch.testing.assert_close(losses['loss_dice'], dice)


def _crafted_predictions(head):
    """Q queries: q1 has exactly box B, q2 exactly box A, the others a tiny
    box in a corner; the same class logits everywhere."""
    boxes = torch.tensor(
        [[0.0, 0.0, 2.0, 2.0], BOX_B, BOX_A, [62.0, 0.0, 64.0, 2.0]]
    )
    bbox_preds = bbox_xyxy_to_cxcywh(boxes / SIZE)
    cls_scores = torch.zeros(Q, head.cls_out_channels)
    points = bbox_preds[..., :2].clone()
    return cls_scores, bbox_preds, points


def test_box_and_mask_of_a_query_refer_to_one_object():
    """The last layer's box assignment picks each matched query's mask
    target: the query whose box is B is trained towards B's mask."""
    head = build_head()
    sample = head_sample()
    gt = referring_targets(sample, (SIZE, SIZE))
    cls_scores, bbox_preds, points = _crafted_predictions(head)
    meta = dict(sample.metainfo, ref_points=points)
    pos, pos_gt = head.assign(cls_scores, bbox_preds, gt, meta)
    assert dict(zip(pos.tolist(), pos_gt.tolist())) == {1: 1, 2: 0}
    # mmdet's DETR targets from the same assignment
    labels, _, bbox_targets, bbox_weights, pos_inds, neg_inds = (
        head._get_targets_single(cls_scores, bbox_preds, gt, meta)
    )
    assert labels.tolist() == [1, 0, 0, 1]
    assert pos_inds.tolist() == [1, 2] and neg_inds.tolist() == [0, 3]
    assert bbox_weights[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0]
    # box targets: the matched gt boxes, normalised cxcywh
    torch.testing.assert_close(
        bbox_targets[1], bbox_xyxy_to_cxcywh(torch.tensor(BOX_B) / SIZE)
    )
    torch.testing.assert_close(
        bbox_targets[2], bbox_xyxy_to_cxcywh(torch.tensor(BOX_A) / SIZE)
    )

    def masks_for(order):
        """Logits +8 inside the given boxes (per query), -8 elsewhere."""
        m = torch.full((1, Q, SIZE, SIZE), -8.0)
        for q, box in order.items():
            x0, y0, x1, y1 = (int(v) for v in box)
            m[0, q, y0:y1, x0:x1] = 8.0
        return m

    assignment = [(pos, pos_gt)]
    tied = head.loss_instance_masks(
        masks_for({1: BOX_B, 2: BOX_A}), assignment, [gt]
    )
    swapped = head.loss_instance_masks(
        masks_for({1: BOX_A, 2: BOX_B}), assignment, [gt]
    )
    assert tied['loss_dice'] < 0.01 and tied['loss_mask'] < 0.01
    assert swapped['loss_dice'] > 0.9 and swapped['loss_mask'] > 1.0
    # the unmatched queries (0 and 3) are the same in both cases
    sig = torch.sigmoid(torch.tensor(-8.0))
    neg_dice = 0.2 * (1 - 1 / (SIZE * SIZE * sig + 1))
    torch.testing.assert_close(tied['loss_neg_dice'], neg_dice)
    torch.testing.assert_close(swapped['loss_neg_dice'], neg_dice)


def test_loss_by_feat_masks_use_the_last_layers_box_assignment():
    """Through loss_by_feat: layer 0 predicts the boxes swapped, the last
    layer right; the instance-mask loss follows the last layer."""
    head = build_head()
    sample = head_sample()
    gt = referring_targets(sample, (SIZE, SIZE))
    cls, boxes, points = _crafted_predictions(head)
    swapped = boxes[[0, 2, 1, 3]]
    masks = torch.full((1, Q, SIZE, SIZE), -8.0)
    for q, box in ((1, BOX_B), (2, BOX_A)):
        x0, y0, x1, y1 = (int(v) for v in box)
        masks[0, q, y0:y1, x0:x1] = 8.0
    outs = dict(
        cls_scores=torch.stack([cls, cls])[:, None],
        bbox_preds=torch.stack([swapped, boxes])[:, None],
        points=points[None],
        mask_preds=masks,
        global_mask=torch.zeros(1, 1, 16, 16),
        nt_logits=torch.zeros(1, 2),
        score_map=torch.zeros(1, 4, 4),
    )
    meta = dict(sample.metainfo)
    losses = head.loss_by_feat(outs, [gt], [meta], [sample])
    assert losses['loss_dice'] < 0.01
    assert losses['loss_bbox'] < 1e-6 and losses['d0.loss_bbox'] < 1e-6


def test_assign_layer_matches_each_layer_with_its_own_boxes():
    """Layer 0 predicts the boxes of queries 1 and 2 swapped, layer 1
    right: each layer's assignment (Sec. 3.1.2, per layer) follows its
    own boxes; the reference points reach the assigner through copies of
    the metas."""
    head = build_head()
    sample = head_sample()
    gt = referring_targets(sample, (SIZE, SIZE))
    cls, boxes, points = _crafted_predictions(head)
    outs = dict(
        cls_scores=torch.stack([cls, cls])[:, None],
        bbox_preds=torch.stack([boxes[[0, 2, 1, 3]], boxes])[:, None],
        points=points[None].requires_grad_(),
    )
    metas = with_ref_points([sample.metainfo], outs['points'])
    assert 'ref_points' not in sample.metainfo
    assert not metas[0]['ref_points'].requires_grad
    assert torch.equal(metas[0]['ref_points'], points)
    for layer, expected in ((0, {1: 0, 2: 1}), (1, {1: 1, 2: 0})):
        ((pos, pos_gt),) = assign_layer(head.assign, outs, layer, [gt], metas)
        assert dict(zip(pos.tolist(), pos_gt.tolist())) == expected


def test_detr_class_loss_is_averaged_as_detr():
    """mmdet's loss_by_feat_single with DETR's background weight: the CE
    (class weights [1, 0.1], weight 0.1) of 2 matched queries at logits
    [0, 0] and 2 unmatched at [2, 0] is averaged over 2 + 0.1 * 2 = 2.2."""
    head = build_head()
    sample = head_sample()
    gt = referring_targets(sample, (SIZE, SIZE))
    cls, boxes, points = _crafted_predictions(head)
    cls[[0, 3], 0] = 2.0  # unmatched: high "target" logit
    meta = dict(sample.metainfo, ref_points=points)
    loss_cls, loss_bbox, loss_iou = head.loss_by_feat_single(
        cls[None], boxes[None], [gt], [meta]
    )
    ce_pos = math.log(2.0)  # -log softmax([0, 0])[0]
    ce_neg = math.log(1 + math.exp(2.0))  # -log softmax([2, 0])[1]
    expected = 0.1 * (2 * ce_pos + 0.1 * 2 * ce_neg) / 2.2
    torch.testing.assert_close(loss_cls.reshape(()), torch.tensor(expected))
    assert loss_bbox < 1e-6 and loss_iou < 1e-6


def test_head_passes_reference_points_to_the_assigner():
    """The hand-worked case of test_point_cost.py through the head: the
    point cost flips the match that plain Hungarian makes (IGVG Eq. 4,
    λ_point = 2, the default assigner)."""
    meta = dict(img_shape=(100, 100))
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        bboxes=torch.tensor([[0.0, 0.0, 20.0, 20.0], [60.0, 60, 80, 80]]),
    )
    cls = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    boxes = torch.tensor([[30.0, 30.0, 50.0, 50.0], [32.0, 32.0, 52, 52]])
    bbox_preds = bbox_xyxy_to_cxcywh(boxes / 100)
    meta['ref_points'] = torch.tensor([[0.7, 0.7], [0.1, 0.1]])
    detr_costs = [
        dict(type='ClassificationCost', weight=1.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0),
    ]
    plain = build_head(
        train_cfg=dict(
            assigner=dict(type='HungarianAssigner', match_costs=detr_costs)
        )
    )
    guided = build_head()  # the default: + PointL1Cost(weight=2)
    assert [type(c).__name__ for c in guided.assigner.match_costs] == [
        'ClassificationCost',
        'BBoxL1Cost',
        'IoUCost',
        'PointL1Cost',
    ]
    assert [c.weight for c in guided.assigner.match_costs] == [1, 5, 2, 2]
    _, t_plain = plain.assign(cls, bbox_preds, gt, meta)
    _, t_guided = guided.assign(cls, bbox_preds, gt, meta)
    assert t_plain.tolist() == [0, 1]  # q0 -> A, q1 -> B
    assert t_guided.tolist() == [1, 0]  # q0 -> B, q1 -> A


def _outs(head, target_logit=(3.0, -3.0, 0.5, -5.0), nt_logits=(2.0, 0.0)):
    """Hand-made network outputs for one 64x64 image."""
    cls = torch.zeros(1, 1, Q, 2)
    cls[0, 0, :, 0] = torch.tensor(target_logit)  # background logit 0
    boxes = torch.tensor(
        [[8.0, 8.0, 24.0, 40.0], [30.0, 30.0, 60.0, 60.0], BOX_B, BOX_A]
    )
    masks = torch.full((1, Q, 16, 16), -6.0)
    masks[0, 0, 4:8, 3:5] = 6.0  # rows 16-32, cols 12-20: inside box 0
    global_mask = torch.full((1, 1, 16, 16), -6.0)
    global_mask[0, 0, 12:14, 12:14] = 6.0
    return dict(
        cls_scores=cls,
        bbox_preds=bbox_xyxy_to_cxcywh(boxes / SIZE)[None, None],
        points=torch.tensor([[[0.25, 0.375], [0.7, 0.7], [0.1, 0.9], [0, 1]]]),
        mask_preds=masks,
        global_mask=global_mask,
        nt_logits=torch.tensor([list(nt_logits)]),
    )


def test_predict_by_feat_hand_computed():
    head = build_head()
    outs = _outs(head)
    meta = dict(
        img_shape=(SIZE, SIZE),
        batch_input_shape=(SIZE, SIZE),
        ori_shape=(32, 128),
        scale_factor=(0.5, 2.0),  # (w, h): original 128 wide, 32 high
    )
    (res,) = head.predict_by_feat(outs, [meta], rescale=True)
    p_t = torch.softmax(torch.tensor([3.0, 0.0]), 0)[0]
    p_nt = torch.softmax(torch.tensor([2.0, 0.0]), 0)[1]
    inst = res['pred_instances']
    # q0 only: p_t = 0.9526 x (1 - 0.1192) = 0.839 > 0.7; q2: 0.62 x 0.88
    assert inst.query_inds.tolist() == [0]
    torch.testing.assert_close(inst.scores, (p_t * (1 - p_nt))[None])
    # box [8, 8, 24, 40] in the 64x64 input -> x / 0.5, y / 2
    torch.testing.assert_close(
        inst.bboxes, torch.tensor([[16.0, 4.0, 48.0, 20.0]])
    )
    assert inst.masks.shape == (1, 32, 128)
    ys, xs = torch.nonzero(inst.masks[0], as_tuple=True)
    x0, y0, x1, y1 = inst.bboxes[0].tolist()
    # the kept instance's mask lies inside its own box
    assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0
    assert ys.max() < y1
    # merged = global OR kept instances; the global blob covers input
    # rows 48-56, cols 48-56, i.e. rows 24-28, cols 96-112 here (bilinear
    # resizing rounds its corners off)
    glob = torch.zeros(32, 128, dtype=torch.bool)
    glob[24:28, 96:112] = True
    merged = res['merged']
    assert merged[inst.masks[0]].all() and merged[25:27, 97:111].all()
    assert not merged[~(glob | inst.masks[0])].any()
    assert res['no_target'] is False
    assert res['nt_score'] == pytest.approx(float(p_nt))
    # points: normalised (x, y) x (64, 64) / (0.5, 2)
    torch.testing.assert_close(
        res['points'][0], torch.tensor([0.25 * 64 / 0.5, 0.375 * 64 / 2])
    )
    torch.testing.assert_close(inst.points, res['points'][:1])
    assert inst.labels.tolist() == [0]


def test_predict_no_target_rules():
    head = build_head()
    # NT probability 0.88: no query reaches 0.7
    outs = _outs(head, nt_logits=(0.0, 2.0))
    meta = dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE))
    (res,) = head.predict_by_feat(outs, [meta])
    assert len(res['pred_instances']) == 0 and res['no_target'] is True
    assert res['pred_instances'].bboxes.shape == (0, 4)
    head.test_cfg.nt_rule = 'classifier'
    head.test_cfg.nt_thr = 0.9  # 0.88 < 0.9: a target, but no instance
    (res,) = head.predict_by_feat(outs, [meta])
    assert res['no_target'] is False
    head.test_cfg.score_thr = 0.0
    (res,) = head.predict_by_feat(outs, [meta])
    assert len(res['pred_instances']) == Q
    scores = res['pred_instances'].scores
    assert torch.all(scores[:-1] >= scores[1:])


def test_padding_and_focal_classification():
    """A padded sample (image 48x64 in a 64x64 batch): points stay inside
    the image; sigmoid focal classification runs too."""
    head = build_head(**focal_head_args())
    levels, img, text, pad = head_inputs()
    samples = [head_sample(img_shape=(48, SIZE)), head_sample()]
    losses = head.loss(levels, img, text, pad, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    metas = [s.metainfo for s in samples]
    with torch.no_grad():
        outs = head(levels, img, text, pad, metas)
    assert outs['cls_scores'].shape[-1] == 1
    # 48 of 64 rows are the image: 3 of the 4 rows of F_i can be chosen
    idx = outs['point_indices'][0]
    assert (idx // 4 < 3).all()
    assert (outs['points'][0] <= 1).all()


def test_registered_and_invalid_configs():
    assert MODELS.get('IGVGHead') is IGVGHead
    bad = copy.deepcopy(TINY_HEAD)
    bad['decoder']['layer_cfg']['cross_attn_cfg']['num_levels'] = 3
    with pytest.raises(ValueError, match='num_levels'):
        MODELS.build(bad)
    with pytest.raises(ValueError, match='S_global'):
        build_head(mask_decoder=dict(type='UNetMaskDecoder', feat_channels=8))
