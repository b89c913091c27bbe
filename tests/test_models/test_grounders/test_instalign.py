import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmgres.registry import MODELS

from ..instalign_utils import BASE, fake_batch, tiny_instalign_cfg


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_instalign_cfg(**kw))
    model.init_weights()
    return model


def _model_and_batch(cfg=None):
    """The model (seed 0) and :func:`fake_batch` through its preprocessor:
    sample 0 is no-target, sample 1 has two targets."""
    torch.manual_seed(0)
    model = MODELS.build(cfg or tiny_instalign_cfg())
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    return model, data


def test_loss_mode_all_terms_and_backward():
    model = _model()
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    for k in (
        'loss_rel',
        'loss_mask',
        'loss_dice',
        'loss_poa',
        'loss_merged',
        'loss_nt',
        'd0.loss_rel',
        'd1.loss_poa',
    ):
        assert k in losses, k
        assert torch.isfinite(losses[k]), k
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    head = model.head
    assert head.ia_act.weight.grad is not None
    assert head.nt_embed.layers[0].weight.grad is not None
    layer = head.transformer_decoder.layers[0]
    assert layer.query_to_text_attn.attn.in_proj_weight.grad is not None
    assert (
        model.text_encoder.model.embeddings.word_embeddings.weight.grad
        is not None
    )


def test_loss_no_target_only_batch():
    model = _model()
    inputs, samples = fake_batch(batch_size=1)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    assert losses['loss_mask'] == 0 and losses['loss_poa'] == 0
    assert losses['loss_rel'] > 0 and losses['loss_nt'] > 0


def _halves(size=16, big=20.0):
    left = torch.zeros(size, size)
    left[:, : size // 2] = 1
    right = 1 - left
    nothing = -big * torch.ones(size, size)
    preds = torch.stack([(left * 2 - 1) * big, (right * 2 - 1) * big, nothing])
    return left.bool(), right.bool(), preds


def _gt(masks, labels):
    return InstanceData(
        labels=torch.tensor(labels, dtype=torch.long),
        masks=masks,
        bboxes=torch.zeros(len(labels), 4),
    )


def test_matching_targets_and_weights_hand_made():
    """3 queries; q0 covers the left half, q1 the right half, q2 nothing.
    Ground truth: the left half a target (label 0), the right half another
    object (label 1, as context instances give it). q0 is matched with
    relevance target 1, q1 with target 0, both weighted 1; q2 is
    unmatched (target 0, weight ``no_object_weight``)."""
    head = _model(queries=3).head
    left, right, preds = _halves()
    targets, weights, pos, matched = head._get_targets_single(
        torch.zeros(3),
        preds,
        torch.randn(3, 32),
        torch.randn(3, 32),
        _gt(torch.stack([left, right]), [0, 1]),
        {},
    )
    order = pos.argsort()
    assert pos[order].tolist() == [0, 1]
    assert matched.labels[order].tolist() == [0, 1]
    assert torch.equal(matched.masks[order][1], right)
    assert targets.tolist() == [1.0, 0.0, 0.0]
    torch.testing.assert_close(weights, torch.tensor([1.0, 1.0, 0.1]))


def test_relevance_loss_weights_unmatched_and_normalises_by_matched():
    """Paper supp. 11.4, Eq. 12: BCE(r, 1) on matched queries plus
    λ_rel·BCE(r, 0) on the unmatched ones. Ours where the paper is silent:
    unmatched weighted 0.1 (Mask2Former's no-object weight), the sum over
    the matched count of the batch (here 1: image 0 has one target, image 1
    none), times loss_cls's weight 2 (Mask2Former)."""
    head = _model(queries=3).head
    left, _, preds = _halves()
    rel = torch.tensor([[1.0, -2.0, 0.5], [0.3, -1.0, 2.0]])
    gts = [_gt(left[None], [0]), _gt(torch.zeros(0, 16, 16).bool(), [])]
    losses = head._loss_layer(
        rel,
        torch.stack([preds, preds]),
        torch.randn(2, 3, 32),
        torch.randn(2, 3, 32),
        gts,
        [{}, {}],
    )
    sp = F.softplus
    t = torch.tensor
    matched = sp(t(-1.0))  # q0 of image 0 -> target 1
    unmatched = sp(t(-2.0)) + sp(t(0.5)) + sp(t(0.3)) + sp(t(-1.0))
    unmatched = unmatched + sp(t(2.0))
    expected = 2.0 * (matched + 0.1 * unmatched) / 1
    torch.testing.assert_close(losses['loss_rel'], expected)
    assert losses['loss_mask'] > 0 and losses['loss_poa'] >= 0


def test_merged_loss_equals_relas_weighted_cross_entropy():
    """ReLA's criterion.py: F.cross_entropy over (background, target)
    logits with class weights [0.9, 1.1]. With one logit m the two-class
    logits are [0, m]; the head's weighted BCE gives the same number."""
    head = _model().head
    torch.manual_seed(1)
    logits = torch.randn(2, 8, 8)
    gt = torch.rand(2, 8, 8) > 0.6
    two_class = torch.stack([torch.zeros_like(logits), logits], 1)
    relas = F.cross_entropy(
        two_class, gt.long(), weight=torch.tensor([0.9, 1.1])
    )
    torch.testing.assert_close(
        head.loss_merged_mask(logits, gt)['loss_merged'], relas
    )
    with pytest.raises(ValueError, match='class_weight'):
        cfg = tiny_instalign_cfg()
        cfg.head.loss_merged.class_weight = (1.0,)
        MODELS.build(cfg)


def test_merged_loss_at_input_resolution_hand_computed():
    """Paper Eq. 6 (L_mask, "adopted from ReLA"): the merged logits are
    upsampled to the 64x64 input before the BCE. A constant merged logit
    c stays c; with k target pixels among N, the loss is
    (1.1 k softplus(-c) + 0.9 (N - k) softplus(c)) / (1.1 k + 0.9 (N - k)).
    """
    model, data = _model_and_batch()
    c = 0.7
    model.head.aggregate = lambda rel, masks: torch.full(
        (masks.shape[0],) + masks.shape[-2:], c
    )
    losses = model(**data, mode='loss')
    gt = torch.stack(
        [
            s.gt_sem_seg.data[0].bool() & (not s.metainfo['no_target'])
            for s in data['data_samples']
        ]
    )
    assert gt.shape == (2, 64, 64)  # the input, not the 16x16 logits
    k, n = int(gt.sum()), gt.numel()
    assert 0 < k < n
    pos, neg = F.softplus(torch.tensor(-c)), F.softplus(torch.tensor(c))
    expected = (1.1 * k * pos + 0.9 * (n - k) * neg) / (
        1.1 * k + 0.9 * (n - k)
    )
    torch.testing.assert_close(losses['loss_merged'], expected)


def test_no_target_loss_plain_bce_hand_computed():
    """Paper Sec. 3.4: L_nt is a BCE, averaged over the batch."""
    model, data = _model_and_batch()
    logits = torch.tensor([0.5, -1.0], requires_grad=True)
    model.head.no_target_logit = lambda *args: logits
    losses = model(**data, mode='loss')
    # sample 0 is no-target (target 1), sample 1 has targets (target 0)
    expected = (
        F.softplus(torch.tensor(-0.5)) + F.softplus(torch.tensor(-1.0))
    ) / 2
    torch.testing.assert_close(losses['loss_nt'], expected)


def test_predict_mode_fills_the_contract():
    model = _model().eval()
    model.head.test_cfg.score_thr = 0.0  # keep every instance
    inputs, samples = fake_batch()
    samples[1].set_metainfo(dict(ori_shape=(48, 80)))
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out) == 2
    s = out[1]
    assert s.pred_sem_seg.data.shape == (1, 48, 80)
    assert s.pred_sem_seg.data.dtype == torch.bool
    inst = s.pred_instances
    assert inst.masks.shape == (6, 48, 80) and inst.bboxes.shape == (6, 4)
    assert torch.all(inst.scores[:-1] >= inst.scores[1:])  # sorted
    assert isinstance(s.pred_no_target, bool)
    assert 0.0 <= s.pred_nt_score <= 1.0

    model.head.test_cfg.score_thr = 1.1  # nothing passes
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out[0].pred_instances) == 0
    assert out[0].pred_instances.bboxes.shape == (0, 4)


def test_tensor_mode_deep_supervision_outputs():
    model = _model(layers=3)
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    outs = model(**data, mode='tensor')
    assert len(outs['rel']) == 4  # before the first layer + 3 layers
    assert outs['rel'][-1].shape == (2, 6)
    assert outs['masks'][-1].shape == (2, 6, 16, 16)
    assert outs['phrases'][-1].shape == (2, 6, 32)


def test_ablation_switches():
    """Table 3(b) 'fixed selection' and 3(c) 'average all object queries'."""
    model = _model()
    model.head.aggregation = 'best'
    rel = torch.tensor([[0.1, 3.0, -1.0]])
    masks = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(model.head.aggregate(rel, masks), masks[:, 1])
    model.head.nt_pooling = 'mean'
    q = torch.randn(1, 3, 32)
    s = torch.randn(1, 32)
    expected = model.head.nt_embed(torch.cat([q.mean(1), s], -1)).squeeze(-1)
    torch.testing.assert_close(model.head.no_target_logit(rel, q, s), expected)


def test_relevance_aggregation_formula():
    """Paper Eq. 5: M = Σ_i σ(r_i) PReLU(m_i), on the logits."""
    head = _model().head
    rel = torch.tensor([[0.0, 2.0]])
    masks = torch.tensor([[[[1.0, -2.0]], [[-1.0, 3.0]]]])  # (1, 2, 1, 2)
    a = head.ia_act.weight.item()  # PReLU slope, 0.25 at init
    s0, s1 = 0.5, torch.sigmoid(torch.tensor(2.0)).item()
    expected = torch.tensor(
        [[[s0 * 1.0 + s1 * (-1.0 * a), s0 * (-2.0 * a) + s1 * 3.0]]]
    )
    torch.testing.assert_close(head.aggregate(rel, masks), expected)


def test_merged_mask_of_one_instance_is_its_own_mask():
    """IA (Eq. 5) on the instance logits upsampled to the input, as
    Mask2Former's inference upsamples its masks first: with one relevant
    instance, the merged mask is that instance's mask.

    Here the instance holds the left half of a 4x4 logit map (+4 | -4),
    whose upsampling to 16x16 crosses zero at x = 8: columns 0-7 are
    positive, column 8 is at 0.375 * 4 + 0.625 * (-4) = -1. Aggregated at
    4x4 and upsampled after, PReLU (slope 0.25) would make the right half
    -1 first, and column 8 would be 0.375 * 4 + 0.625 * (-1) = 0.875 > 0:
    a mask one column wider than the instance."""
    head = _model().head
    assert head.ia_act.weight.item() == 0.25
    rel = torch.tensor([[20.0, -20.0]])  # sigma: 1 - 2e-9 and 2e-9
    masks = torch.full((1, 2, 4, 4), -4.0)
    masks[0, 0, :, :2] = 4.0
    merged = head.merged_logits(rel, masks, (16, 16))
    assert merged.shape == (1, 16, 16)
    assert ((merged[0] > 0).sum(-1) == 8).all()
    assert (merged[0, :, :8] > 0).all()
    torch.testing.assert_close(
        merged[0, 0, 8], torch.tensor(-0.25), rtol=0, atol=1e-6
    )


def test_no_target_pooling_formula():
    """Paper Eq. 7: g = Σ σ(r_i) q_i / Σ σ(r_i), then MLP([g; s])."""
    head = _model().head
    rel = torch.tensor([[0.0, 2.0, -3.0]])
    q = torch.randn(1, 3, 32)
    s = torch.randn(1, 32)
    p = rel.sigmoid()
    g = (p[..., None] * q).sum(1) / p.sum(1, keepdim=True)
    expected = head.nt_embed(torch.cat([g, s], -1))[:, 0]
    torch.testing.assert_close(head.no_target_logit(rel, q, s), expected)


def test_empty_text_is_an_error():
    model = _model()
    inputs, samples = fake_batch()
    samples[0].set_metainfo(dict(text='  '))
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    with pytest.raises(ValueError, match='Empty referring expression'):
        model(**data, mode='loss')


def test_full_size_config_builds_offline_with_paper_param_count():
    cfg = Config.fromfile(BASE)
    model = MODELS.build(cfg.model)
    n = sum(p.numel() for p in model.parameters())
    # paper (Table 5): 230M for Swin-B + BERT-base; ours 221.6M
    assert abs(n - 230e6) / 230e6 < 0.05, n
