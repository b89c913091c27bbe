"""InstAlignExtHead: each option against a hand-computed value or the
behaviour it is for; with every option off it is InstAlignHead."""

import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

# registers the project's parts (the core configs built here do not import
# it through custom_imports)
import projects.instalign_extensions.instalign_extensions  # noqa: F401
from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
CORE = osp.join(
    ROOT, 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
)
CONTEXT = osp.join(
    ROOT,
    'projects/instalign_extensions/configs/'
    'instalign_tiny-r18_1xb8-8e_synthetic-grefcoco_context.py',
)
OPTIONS_OFF = dict(
    type='InstAlignExtHead',
    context_instances=False,
    num_context_classes=0,
    loss_merged_dice=None,
    pixel_text_attn_cfg=None,
    mask_feature_pos=False,
)
EXTRA_KEYS = ('pixel_text_attn.', 'pixel_text_norm.', 'mask_pos_proj.')


def _cfg(path=CONTEXT, **head):
    """A config's model with few sampled points, ``head`` updated."""
    cfg = Config.fromfile(path).model
    cfg.train_cfg.num_points = 64
    cfg.head.update(head)
    return cfg


def _build(cfg, seed=0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(cfg)


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


def _data(model, training=True, context=False, batch_size=2):
    """Sample 0 is no-target, the others have two targets; 64x64."""
    inputs, samples = demo_grounding_inputs(
        batch_size=batch_size,
        image_shape=(64, 64),
        num_instances=2,
        no_target_first=True,
    )
    if context:
        samples = _with_context(samples)
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training
    )


def _losses(model, data, seed=0):
    torch.manual_seed(seed)  # the point sampling
    return model(**data, mode='loss')


def test_all_options_off_is_the_core_head():
    core = _build(_cfg(CORE))
    ext = _build(_cfg(CORE, **OPTIONS_OFF))
    assert type(ext.head).__name__ == 'InstAlignExtHead'
    assert ext.state_dict().keys() == core.state_dict().keys()
    for a, b in zip(core.state_dict().values(), ext.state_dict().values()):
        torch.testing.assert_close(a, b)
    data = _data(core)
    expected, got = _losses(core, data), _losses(ext, data)
    assert expected.keys() == got.keys()
    for k in expected:
        torch.testing.assert_close(got[k], expected[k])


def test_options_add_their_parts_only():
    """The context config's checkpoints keep the core head's keys, plus
    those of the options' own parts."""
    core = _build(_cfg(CORE, in_channels=[16, 32, 64, 128])).head
    ext = _build(_cfg()).head
    extra = set(ext.state_dict()) - set(core.state_dict())
    assert set(core.state_dict()) <= set(ext.state_dict())
    assert extra and all(
        k.startswith(EXTRA_KEYS + ('context_cls_embed.',)) for k in extra
    )


def test_invalid_options_raise():
    for head, match in (
        (dict(context_instances=False), 'context_instances=True'),
        (dict(num_context_classes=-1), 'num_context_classes'),
    ):
        with pytest.raises(ValueError, match=match):
            _build(_cfg(**head))
    cfg = _cfg()
    cfg.test_cfg.merge_mode = 'max'
    with pytest.raises(ValueError, match='merge_mode'):
        _build(cfg)


def _predict(model, data):
    with torch.no_grad():
        return model.head.predict(
            model.extract_feat(data['inputs']),
            model.extract_text(data['data_samples']),
            data['data_samples'],
        )


def test_union_merge_option():
    """``test_cfg.merge_mode='union'``: the merged mask is the OR of the
    output instances; IA's output otherwise."""
    model = _build(_cfg()).eval()
    assert model.head.test_cfg.merge_mode == 'union'
    model.head.test_cfg.score_thr = 0.0
    data = _data(model, training=False)
    for r in _predict(model, data):
        torch.testing.assert_close(
            r['merged'], r['pred_instances'].masks.any(0)
        )
    model.head.test_cfg.score_thr = 1.1  # nothing kept: empty union
    assert not _predict(model, data)[0]['merged'].any()
    model.head.test_cfg.merge_mode = 'ia'  # IA's mask, not a union
    model.head.test_cfg.score_thr = 0.0
    merged = _predict(model, data)[1]['merged']
    assert merged.shape == (64, 64)


def test_merged_dice_and_no_target_weight_hand_computed():
    """A constant merged logit c: each sample's naive dice (eps 1) is
    1 - (2 σ(c) k + 1) / (σ(c) N + k + 1) with k target pixels of N, at
    the 64x64 input; the loss is their mean. No-target logits 0.5 (the
    no-target sample, weight 3) and -1.0: (3 BCE(0.5, 1) + BCE(-1, 0)) /
    (3 + 1)."""
    cfg = _cfg(
        loss_merged_dice=dict(
            type='DiceLoss', use_sigmoid=True, naive_dice=True, eps=1.0
        ),
    )
    cfg.head.loss_nt = dict(type='ClassWeightedBCELoss', class_weight=(1, 3))
    model = _build(cfg)
    data = _data(model, context=True)
    c = 0.4
    model.head.aggregate = lambda rel, masks: torch.full(
        (masks.shape[0],) + masks.shape[-2:], c
    )
    logits = torch.tensor([0.5, -1.0], requires_grad=True)
    model.head.no_target_logit = lambda *args: logits
    losses = _losses(model, data)
    p, n = torch.sigmoid(torch.tensor(c)), 64 * 64
    dice = []
    for s in data['data_samples']:
        k = int(s.gt_sem_seg.data.bool().sum()) * (not s.no_target)
        dice.append(1 - (2 * p * k + 1) / (p * n + k + 1))
    torch.testing.assert_close(losses['loss_merged_dice'], sum(dice) / 2)
    sp = F.softplus
    expected = (3 * sp(torch.tensor(-0.5)) + sp(torch.tensor(-1.0))) / 4
    torch.testing.assert_close(losses['loss_nt'], expected)


def test_pixel_text_attention_makes_the_masks_depend_on_the_words():
    model = _build(_cfg(mask_feature_pos=False)).eval()
    data = _data(model, training=False)
    with torch.no_grad():
        a = model(**data, mode='tensor')['masks'][0]
        for s in data['data_samples']:
            s.set_metainfo(dict(text='all blue squares'))
        b = model(**data, mode='tensor')['masks'][0]
    # the first masks come before any decoder layer: only the pixel
    # features' attention to the words can make them differ
    assert not torch.allclose(a, b)
    model.head.pixel_text_attn = None
    with torch.no_grad():
        c = model(**data, mode='tensor')['masks'][0]
        for s in data['data_samples']:
            s.set_metainfo(dict(text='the red circle'))
        d = model(**data, mode='tensor')['masks'][0]
    torch.testing.assert_close(c, d)


def _mask_features(model, feats, text):
    with torch.no_grad():
        return model.head(feats, text)['mask_features'][0]


def test_mask_feature_pos_breaks_translation_symmetry():
    """With ``mask_feature_pos`` two pixels with the same visual feature get
    different mask features, so one query can select only one of them."""
    feats = [
        torch.zeros(1, c, 64 // s, 64 // s)
        for c, s in zip([16, 32, 64, 128], [4, 8, 16, 32])
    ]
    text = dict(
        token_feats=torch.randn(1, 3, 64),
        padding_mask=torch.zeros(1, 3, dtype=torch.bool),
        sentence_feat=torch.randn(1, 64),
    )
    plain = _build(_cfg(mask_feature_pos=False, pixel_text_attn_cfg=None))
    g = _mask_features(plain.eval(), feats, text)
    torch.testing.assert_close(g[:, 2, 2], g[:, 2, 12])
    pos = _build(_cfg(pixel_text_attn_cfg=None))
    f = _mask_features(pos.eval(), feats, text)
    assert (f[:, 2, 2] - f[:, 2, 12]).abs().max() > 1e-3


def test_context_instances_train_and_need_the_data():
    model = _build(_cfg())
    losses = _losses(model, _data(model, context=True))
    assert all(torch.isfinite(v) for k, v in losses.items() if 'loss' in k)
    # a no-target sample still has an object to learn the mask of, but no
    # target to align with a phrase
    losses = _losses(model, _data(model, context=True, batch_size=1))
    assert losses['loss_mask'] > 0 and losses['loss_poa'] == 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    with pytest.raises(KeyError, match='with_context=True'):
        _losses(model, _data(model))


def test_context_category_loss_hand_computed():
    """Zero classifier weights: every matched query has uniform logits, so
    CE = log(C) for each and the loss is weight · log(C) whatever the
    number of matched queries (all objects: 1 + 3 in the batch)."""
    model = _build(_cfg(num_context_classes=3))
    torch.nn.init.zeros_(model.head.context_cls_embed.weight)
    torch.nn.init.zeros_(model.head.context_cls_embed.bias)
    losses = _losses(model, _data(model, context=True))
    for key in ('loss_context_cls', 'd0.loss_context_cls'):
        torch.testing.assert_close(
            losses[key], torch.tensor(2.0 * math.log(3))
        )
    losses['loss_context_cls'].backward()
    assert model.head.context_cls_embed.weight.grad.abs().sum() > 0
