import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmgres.models.heads import InstAlignHead
from mmgres.registry import MODELS

from ..instalign_utils import BASE, fake_batch, tiny_instalign_cfg


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_instalign_cfg(**kw))
    model.init_weights()
    return model


def _backward_once(cfg, seed=0):
    """Build the model (seeded unless ``seed`` is None), run one loss on
    :func:`fake_batch` and back-propagate it."""
    if seed is not None:
        torch.manual_seed(seed)
    model = MODELS.build(cfg)
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    return model, inputs, samples


def _model_and_batch(cfg):
    """The model (seed 0) and :func:`fake_batch` through its preprocessor:
    sample 0 is no-target, sample 1 has a target."""
    torch.manual_seed(0)
    model = MODELS.build(cfg)
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


def test_union_merge_option():
    """``test_cfg.merge_mode='union'``: the merged mask is the OR of the output
    instances (IA's output is the default)."""
    model = _model().eval()
    model.head.test_cfg.update(score_thr=0.0, merge_mode='union')
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        results = model.head.predict(
            model.extract_feat(data['inputs']),
            model.extract_text(data['data_samples']),
            data['data_samples'],
        )
    for r in results:
        torch.testing.assert_close(
            r['merged'], r['pred_instances'].masks.any(0)
        )
    model.head.test_cfg.score_thr = 1.1  # nothing kept: empty union
    with torch.no_grad():
        results = model.head.predict(
            model.extract_feat(data['inputs']),
            model.extract_text(data['data_samples']),
            data['data_samples'],
        )
    assert not results[0]['merged'].any()
    cfg = tiny_instalign_cfg()
    cfg.test_cfg.merge_mode = 'max'
    with pytest.raises(ValueError, match='merge_mode'):
        MODELS.build(cfg)


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
    model = _model()
    head = model.head
    rel = torch.tensor([[0.0, 2.0]])
    masks = torch.tensor([[[[1.0, -2.0]], [[-1.0, 3.0]]]])  # (1, 2, 1, 2)
    a = head.ia_act.weight.item()  # PReLU slope, 0.25 at init
    s0, s1 = 0.5, torch.sigmoid(torch.tensor(2.0)).item()
    expected = torch.tensor(
        [[[s0 * 1.0 + s1 * (-1.0 * a), s0 * (-2.0 * a) + s1 * 3.0]]]
    )
    torch.testing.assert_close(head.aggregate(rel, masks), expected)


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


def test_pixel_text_attention_option():
    cfg = tiny_instalign_cfg()
    cfg.head.pixel_text_attn_cfg = dict(num_heads=4)
    model, inputs, samples = _backward_once(cfg)
    assert model.head.pixel_text_attn.attn.in_proj_weight.grad is not None
    # the masks now depend on the words
    model.eval()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        a = model(**data, mode='tensor')['masks'][0]
        for s in data['data_samples']:
            s.set_metainfo(dict(text='all blue squares'))
        b = model(**data, mode='tensor')['masks'][0]
    assert not torch.allclose(a, b)


def test_merged_dice_and_no_target_weight_options():
    """``loss_merged_dice`` adds a dice term on the IA mask; ``nt_pos_weight``
    weighs no-target samples in the NT BCE (hand-computed below)."""
    cfg = tiny_instalign_cfg()
    cfg.head.loss_merged_dice = dict(
        type='DiceLoss', use_sigmoid=True, naive_dice=True, eps=1.0
    )
    cfg.head.nt_pos_weight = 3.0
    model, data = _model_and_batch(cfg)
    logits = torch.tensor([0.5, -1.0], requires_grad=True)
    model.head.no_target_logit = lambda *args: logits
    losses = model(**data, mode='loss')
    assert losses['loss_merged_dice'] > 0
    # BCE(0.5, 1) weighted 3 and BCE(-1.0, 0) weighted 1, over 3 + 1
    bce_nt = torch.nn.functional.softplus(torch.tensor(-0.5))
    bce_t = torch.nn.functional.softplus(torch.tensor(-1.0))
    expected = (3 * bce_nt + bce_t) / 4
    torch.testing.assert_close(losses['loss_nt'], expected)
    losses['loss_merged_dice'].backward()
    assert model.head.ia_act.weight.grad is not None
    with pytest.raises(ValueError, match='nt_pos_weight'):
        cfg.head.nt_pos_weight = 0
        MODELS.build(cfg)


def _mask_features_of(head, feats, text):
    """The mask features the head's decoder reads (spied on)."""
    captured = {}
    orig = head._forward_head

    def spy(decoder_out, mask_feature, size, *args):
        captured['f'] = mask_feature
        return orig(decoder_out, mask_feature, size, *args)

    head._forward_head = spy
    with torch.no_grad():
        head(feats, text)
    return captured['f'][0]


def _constant_inputs():
    """Constant backbone features (every pixel looks the same) and a
    random 3-word text, for the tiny head."""
    feats = [
        torch.zeros(1, c, 64 // s, 64 // s)
        for c, s in zip([16, 32, 64, 128], [4, 8, 16, 32])
    ]
    text = dict(
        token_feats=torch.randn(1, 3, 32),
        padding_mask=torch.zeros(1, 3, dtype=torch.bool),
        sentence_feat=torch.randn(1, 32),
    )
    return feats, text


def test_mask_feature_pos_option_breaks_translation_symmetry():
    """With ``mask_feature_pos`` two pixels with the same visual feature get
    different mask features, so one query can select only one of them."""
    feats, text = _constant_inputs()
    cfg = tiny_instalign_cfg()
    torch.manual_seed(0)
    g = _mask_features_of(MODELS.build(cfg).head, feats, text)
    torch.testing.assert_close(g[:, 2, 2], g[:, 2, 12])
    cfg.head.mask_feature_pos = True
    torch.manual_seed(0)
    f = _mask_features_of(MODELS.build(cfg).head, feats, text)
    assert (f[:, 2, 2] - f[:, 2, 12]).abs().max() > 1e-3


def test_memory_pos_option_puts_positions_into_the_values():
    """With ``memory_pos`` the cross-attention values of two pixels with the
    same visual feature differ, so a query's content can learn where its
    object is; without it they are equal."""
    feats, text = _constant_inputs()

    def values_of(head):
        captured = []
        layer = head.transformer_decoder.layers[0]
        orig = layer.forward

        def spy(*args, **kwargs):
            captured.append(kwargs['value'])
            return orig(*args, **kwargs)

        layer.forward = spy
        with torch.no_grad():
            head(feats, text)
        return captured[0][0]  # (h*w, C) of the first level

    cfg = tiny_instalign_cfg()
    torch.manual_seed(0)
    v = values_of(MODELS.build(cfg).head)
    torch.testing.assert_close(v[0], v[-1])
    cfg.head.memory_pos = True
    torch.manual_seed(0)
    head = MODELS.build(cfg).head
    v = values_of(head)
    assert (v[0] - v[-1]).abs().max() > 1e-3
    # and the projection trains
    model, inputs, samples = _backward_once(cfg, seed=None)
    grad = model.head.memory_pos_proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_mask_centroids_hand_computed():
    logits = torch.full((1, 2, 4, 4), -50.0)
    logits[0, 0, 0:2, 2:4] = 50.0  # rows 0-1, columns 2-3
    centres = InstAlignHead.mask_centroids(logits)
    # x = mean(2.5, 3.5) / 4, y = mean(0.5, 1.5) / 4; empty -> centre
    torch.testing.assert_close(centres[0, 0], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(centres[0, 1], torch.tensor([0.5, 0.5]))


def test_query_mask_pos_option_trains():
    cfg = tiny_instalign_cfg()
    cfg.head.query_mask_pos = True
    model, inputs, samples = _backward_once(cfg)
    grads = [p.grad for p in model.head.query_pos_mlp.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def _with_context(samples):
    """Give every sample its targets plus one other object (label 1) in
    the bottom-right corner as ``gt_context_instances``."""
    for s in samples:
        gt = s.gt_instances
        h, w = gt.masks.height, gt.masks.width
        extra = np.zeros((1, h, w), np.uint8)
        extra[0, h - 8 :, w - 8 :] = 1
        s.gt_context_instances = InstanceData(
            masks=BitmapMasks(np.concatenate([gt.masks.masks, extra]), h, w),
            labels=torch.cat([gt.labels, torch.ones(1, dtype=torch.long)]),
            categories=torch.arange(len(gt) + 1) % 3,
            bboxes=torch.cat(
                [gt.bboxes, torch.tensor([[w - 8.0, h - 8.0, w, h]])]
            ),
        )
    return samples


def test_context_instances_relevance_targets_hand_made():
    """3 queries; q0 covers the other object C, q1 the target A, q2 nothing.
    With context instances q0 is matched to C (mask losses) with relevance
    target 0, q1 to A with target 1; q2 is unmatched."""
    head = _model(queries=3).head
    left = torch.zeros(16, 16)
    left[:, :8] = 1
    right = 1 - left
    big = 20.0
    nothing = -big * torch.ones(16, 16)
    mask_pred = torch.stack(
        [(right * 2 - 1) * big, (left * 2 - 1) * big, nothing]
    )
    gt = InstanceData(
        labels=torch.zeros(2, dtype=torch.long),
        masks=torch.stack([left, right]).bool(),
        relevant=torch.tensor([True, False]),
        categories=torch.tensor([2, 1]),
    )
    targets, pos, matched = head._get_targets_single(
        torch.zeros(3),
        mask_pred,
        torch.randn(3, 32),
        torch.randn(3, 32),
        gt,
        {},
    )
    order = pos.argsort()
    assert pos[order].tolist() == [0, 1]
    assert matched.relevant[order].tolist() == [False, True]
    assert matched.categories[order].tolist() == [1, 2]
    assert torch.equal(matched.masks[order][0], right.bool())
    assert targets.tolist() == [0.0, 1.0, 0.0]


def test_context_instances_option_trains_and_needs_the_data():
    model = _model()
    model.head.context_instances = True
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=_with_context(samples)), True
    )
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for k, v in losses.items() if 'loss' in k)
    # the no-target sample still has an object to learn the mask of
    nt_only = fake_batch(batch_size=1)
    data = model.data_preprocessor(
        dict(inputs=nt_only[0], data_samples=_with_context(nt_only[1])), True
    )
    losses = model(**data, mode='loss')
    assert losses['loss_mask'] > 0 and losses['loss_poa'] == 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    with pytest.raises(KeyError, match='with_context=True'):
        model(**data, mode='loss')


def test_context_category_loss_hand_computed():
    """Zero classifier weights: every matched query has uniform logits, so
    CE = log(C) for each and the loss is weight · log(C) whatever the
    number of matched queries (all objects: 1 + 3 in the batch)."""
    cfg = tiny_instalign_cfg()
    cfg.head.num_context_classes = 3
    with pytest.raises(ValueError, match='context_instances=True'):
        MODELS.build(cfg)
    cfg = tiny_instalign_cfg()
    cfg.head.update(context_instances=True, num_context_classes=3)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    torch.nn.init.zeros_(model.head.context_cls_embed.weight)
    torch.nn.init.zeros_(model.head.context_cls_embed.bias)
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=_with_context(samples)), True
    )
    losses = model(**data, mode='loss')
    for key in ('loss_context_cls', 'd0.loss_context_cls'):
        torch.testing.assert_close(
            losses[key], torch.tensor(2.0 * math.log(3))
        )
    losses['loss_context_cls'].backward()
    assert model.head.context_cls_embed.weight.grad.abs().sum() > 0


def _box_cfg():
    cfg = tiny_instalign_cfg()
    cfg.head.update(
        loss_query_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_query_iou=dict(type='GIoULoss', loss_weight=2.0),
    )
    return cfg


def test_query_box_losses_hand_computed():
    """Zero last layer: every query predicts (0.5, 0.5, 0.5, 0.5) cxcywh.
    Against the left half of a 16x16 image, (0.25, 0.5, 0.5, 1): L1 = 0.75;
    IoU 0.125 / 0.625 = 0.2, hull 0.75, GIoU = 0.2 - 0.125 / 0.75."""
    cfg = tiny_instalign_cfg()
    cfg.head.loss_query_iou = dict(type='GIoULoss')
    with pytest.raises(ValueError, match='needs loss_query_bbox'):
        MODELS.build(cfg)
    torch.manual_seed(0)
    head = MODELS.build(_box_cfg()).head
    last = head.query_box_embed.layers[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    matched = [
        InstanceData(bboxes=torch.tensor([[0.0, 0.0, 8.0, 16.0]])),
        InstanceData(bboxes=torch.zeros(0, 4)),
    ]
    metas = [dict(img_shape=(16, 16)), dict(img_shape=(32, 16))]
    losses = head._loss_query_boxes(torch.randn(1, 32), matched, metas, 2.0)
    torch.testing.assert_close(
        losses['loss_query_bbox'], torch.tensor(5.0 * 0.75 / 2)
    )
    giou = 0.2 - 0.125 / 0.75
    torch.testing.assert_close(
        losses['loss_query_iou'], torch.tensor(2.0 * (1 - giou) / 2)
    )
    # no matched query: both losses are 0
    losses = head._loss_query_boxes(
        torch.randn(0, 32), matched[1:], metas[1:], 1.0
    )
    assert losses['loss_query_bbox'] == 0 and losses['loss_query_iou'] == 0


def test_query_box_option_every_layer_and_trains():
    model, data = _model_and_batch(_box_cfg())
    data['data_samples'] = _with_context(data['data_samples'])
    model.head.context_instances = True
    losses = model(**data, mode='loss')
    num_layers = model.head.num_transformer_decoder_layers
    for key in ('loss_query_bbox', 'loss_query_iou'):
        assert losses[key] > 0
        for i in range(num_layers):
            assert losses[f'd{i}.{key}'] > 0
    (losses['loss_query_bbox'] + losses['loss_query_iou']).backward()
    grads = [p.grad for p in model.head.query_box_embed.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_relation_attn_option_reads_positions_and_keeps_the_masks():
    cfg = tiny_instalign_cfg()
    cfg.head.relation_attn_cfg = dict(num_heads=2)
    model, inputs, samples = _backward_once(cfg)
    for p in model.head.relation_attn.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    feats, text = _constant_inputs()
    head = model.head.eval()
    with torch.no_grad():
        a = head(feats, text)
        head.relation_attn, block = None, head.relation_attn
        b = head(feats, text)
        head.relation_attn = block
    # the masks and the plain queries are untouched; relevance is not
    for key in ('masks', 'queries'):
        for x, y in zip(a[key], b[key]):
            torch.testing.assert_close(x, y)
    assert (a['rel'][-1] - b['rel'][-1]).abs().max() > 1e-4
    assert all(r is q for r, q in zip(b['rel_queries'], b['queries']))


def test_spatial_relevance_option_reads_place_and_sentence():
    cfg = tiny_instalign_cfg()
    cfg.head.spatial_relevance = True
    model, inputs, samples = _backward_once(cfg)
    head = model.head
    for module in (head.spatial_mlp, head.spatial_sentence_proj):
        for p in module.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
    feats, text = _constant_inputs()
    head = head.eval()
    with torch.no_grad():
        a = head(feats, text)
        head.spatial_mlp, mlp = None, head.spatial_mlp
        b = head(feats, text)
        head.spatial_mlp = mlp
    for key in ('masks', 'queries'):
        for x, y in zip(a[key], b[key]):
            torch.testing.assert_close(x, y)
    assert (a['rel'][-1] - b['rel'][-1]).abs().max() > 1e-4

    q = torch.randn(2, 3, head.spatial_norm.normalized_shape[0])
    sentence = torch.randn(2, head.text_channels)
    left = torch.full((2, 3, 8, 8), -20.0)
    left[..., :, :2] = 20.0  # every mask on the left edge
    right = left.flip(-1)
    with torch.no_grad():
        out_l = head.spatial_relevance_query(q, left, sentence)
        out_r = head.spatial_relevance_query(q, right, sentence)
        out_s = head.spatial_relevance_query(q, left, sentence.flip(0))
        # with the MLP's last layer zeroed, the block is LN(q)
        last = head.spatial_mlp.layers[-1]
        w, bias = last.weight.clone(), last.bias.clone()
        last.weight.zero_()
        last.bias.zero_()
        plain = head.spatial_relevance_query(q, left, sentence)
        last.weight.copy_(w)
        last.bias.copy_(bias)
    assert (out_l - out_r).abs().max() > 1e-4  # the place matters
    assert (out_l - out_s).abs().max() > 1e-4  # so does the sentence
    torch.testing.assert_close(plain, F.layer_norm(q, q.shape[-1:]))
    with pytest.raises(ValueError, match='sentence'):
        head.spatial_relevance_query(q, left, None)


def test_word_and_relevance_hand_computed_and_trains():
    cfg = tiny_instalign_cfg()
    cfg.head.word_and_relevance = True
    model, inputs, samples = _backward_once(cfg)
    head = model.head
    for module in (
        head.word_and_query,
        head.word_and_word,
        head.word_and_gate,
    ):
        for p in module.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
    assert head.word_and_bias.grad is not None
    # the word weights start nearly closed, also after init_weights()
    cfg = tiny_instalign_cfg()
    cfg.head.word_and_relevance = True
    fresh = MODELS.build(cfg)
    fresh.init_weights()
    fresh = fresh.head
    c = fresh.word_and_query.in_features
    gate = fresh.word_and_gate(torch.randn(2, 5, c))
    assert gate.sigmoid().max() < 0.1

    c = head.word_and_query.in_features
    with torch.no_grad():
        for lin in (head.word_and_query, head.word_and_word):
            lin.weight.copy_(torch.eye(c))
            lin.bias.zero_()
        head.word_and_bias.fill_(0.0)
        gate_out = head.word_and_gate.layers[-1]
        gate_out.weight.zero_()
        gate_out.bias.fill_(100.0)  # every real word must match
        q = torch.zeros(1, 2, c)
        q[0, 0, 0] = 4.0  # query 0 points along word 0's direction
        q[0, 1, 1] = 4.0  # query 1 along word 1's
        words = torch.zeros(1, 3, c)
        words[0, 0, 0] = 4.0
        words[0, 1, 0] = 4.0
        words[0, 2, 1] = 4.0  # padding: ignored
        pad = torch.tensor([[False, False, True]])
        out = head.word_and_logit(q, words, pad)
    s = 16.0 / math.sqrt(c)
    logsig = torch.nn.functional.logsigmoid
    expected = torch.tensor(
        [[2 * logsig(torch.tensor(s)), 2 * logsig(torch.tensor(0.0))]]
    )
    torch.testing.assert_close(out, expected)
    # one unmatched word vetoes: query 1 matches neither real word
    assert out[0, 1] < out[0, 0] <= 0


def test_nt_deep_supervision_option_one_loss_per_decoder_layer():
    """``nt_deep_supervision`` trains the no-target predictor on the
    queries of every decoder layer; each ``d{i}.loss_nt`` is the BCE of
    that layer's own no-target logits (hand-set below)."""
    cfg = tiny_instalign_cfg()
    cfg.head.nt_deep_supervision = True
    cfg.head.nt_pos_weight = 2.0
    model, data = _model_and_batch(cfg)
    calls = []
    real = model.head.no_target_logit

    def fake(rel, queries, sentence):
        real(rel, queries, sentence)  # the real one still runs
        calls.append(rel)
        k = len(calls)
        return torch.tensor([0.25 * k, -0.5 * k], requires_grad=True)

    model.head.no_target_logit = fake
    losses = model(**data, mode='loss')
    num_layers = cfg.head.transformer_decoder.num_layers
    assert len(calls) == num_layers  # layers 1..L, not the learnt queries
    names = [f'd{i}.loss_nt' for i in range(1, num_layers)] + ['loss_nt']
    assert sorted(k for k in losses if k.endswith('loss_nt')) == sorted(names)
    assert 'd0.loss_nt' not in losses
    softplus = torch.nn.functional.softplus
    for k, name in enumerate(names, start=1):
        x_nt, x_t = torch.tensor(0.25 * k), torch.tensor(-0.5 * k)
        expected = (2 * softplus(-x_nt) + softplus(x_t)) / 3
        torch.testing.assert_close(losses[name], expected)

    # off (the paper): one loss_nt, from the last layer only
    cfg.head.nt_deep_supervision = False
    model, _, _ = _backward_once(cfg)
    torch.manual_seed(0)
    losses = model(**data, mode='loss')
    assert [k for k in losses if k.endswith('loss_nt')] == ['loss_nt']


def test_nt_deep_supervision_trains_the_predictor_from_every_layer():
    cfg = tiny_instalign_cfg()
    cfg.head.nt_deep_supervision = True
    model, _, _ = _backward_once(cfg)
    for p in model.head.nt_embed.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_nt_relevance_stats_option_hand_computed():
    """``nt_relevance_stats``: the no-target MLP reads [g; s; max σ(r);
    Σ σ(r)]; checked against the MLP applied by hand."""
    cfg = tiny_instalign_cfg()
    cfg.head.nt_relevance_stats = True
    torch.manual_seed(0)
    head = MODELS.build(cfg).head
    c = head.cls_embed.layers[0].in_features
    t = head.nt_embed.layers[0].in_features - c - 2
    rel = torch.tensor([[0.0, 2.0, -3.0]])  # σ: 0.5, 0.881, 0.047
    queries = torch.randn(1, 3, c)
    sentence = torch.randn(1, t)
    out = head.no_target_logit(rel, queries, sentence)
    p = torch.sigmoid(rel)
    g = (p[..., None] * queries).sum(1) / p.sum(1, keepdim=True)
    stats = torch.tensor([[float(p.max()), float(p.sum())]])
    expected = head.nt_embed(torch.cat([g, sentence, stats], -1))[:, 0]
    torch.testing.assert_close(out, expected)
    # the two inputs matter: other relevances with the same pooled g give
    # another logit (all queries equal, so g is the same)
    same = queries[:, :1].expand(1, 3, c)
    a = head.no_target_logit(rel, same, sentence)
    b = head.no_target_logit(rel - 4.0, same, sentence)
    assert not torch.allclose(a, b)
    cfg.head.nt_relevance_stats = False
    plain = MODELS.build(cfg).head
    assert plain.nt_embed.layers[0].in_features == c + t
    torch.testing.assert_close(
        plain.no_target_logit(rel, same, sentence),
        plain.no_target_logit(rel - 4.0, same, sentence),
    )
    # end to end: it builds, runs the loss and trains the no-target MLP
    cfg.head.nt_relevance_stats = True
    model, _, _ = _backward_once(cfg)
    for p in model.head.nt_embed.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
