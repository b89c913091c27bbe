"""RaAM-RVG in loss, predict and tensor modes for REC, RES, REC+RES and
GRES, built from the real configs, shrunk."""

import pytest
import torch
from mmengine.config import Config

from mmgres.registry import MODELS

from ..raam_utils import SWIN_BASE, VIT_BASE, fake_batch, tiny_raam_cfg

LOSS_KEYS = {
    'rec': {'loss_region', 'loss_bbox', 'loss_giou'},
    'res': {'loss_region', 'loss_mask'},
    'rec_res': {'loss_region', 'loss_bbox', 'loss_giou', 'loss_mask'},
    'gres': {'loss_region', 'loss_mask'},
}


def _model(mode='gres', arch='vit', **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(tiny_raam_cfg(mode, arch, **kwargs))
    model.init_weights()
    return model


def _data(model, training, **kwargs):
    inputs, samples = fake_batch(**kwargs)
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training
    )


def _set_presence(model, bias):
    """Push every region's presence logit to ``bias``."""
    with torch.no_grad():
        for mlp in model.head.presence_mlps:
            mlp.layers[-1].weight.zero_()
            mlp.layers[-1].bias.fill_(bias)


def test_parts_are_wired_from_each_other():
    model = _model()
    assert model.mode == 'gres'
    assert model.backbone.text_channels == 24  # the text encoder's width
    assert model.backbone.out_channels == [32] * 4
    assert len(model.head.level_projs) == 3  # stages 2..K
    assert model.head.region_grid == model.backbone.region_grid == (4, 4)
    cfg = tiny_raam_cfg()
    cfg.head.region_grid = (2, 2)
    with pytest.raises(ValueError, match='region_grid'):
        MODELS.build(cfg)


@pytest.mark.parametrize('mode', ['rec', 'res', 'rec_res', 'gres'])
def test_loss_mode(mode):
    model = _model(mode)
    losses = model(**_data(model, True), mode='loss')
    assert set(losses) == LOSS_KEYS[mode]
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    loss, _ = model.parse_losses(losses)
    loss.backward()
    # the gradient reaches the words, the anchors and the ViT's first layer
    emb = model.text_encoder.model.embeddings.word_embeddings.weight
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    assert model.backbone.anchor_embeds.grad.abs().sum() > 0
    layer = model.backbone.vision.layers[0]
    assert layer.attn.attn.in_proj_weight.grad.abs().sum() > 0
    no_grad = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    # BERT's pooler is not used by RaAM; everything else learns
    assert all(n.startswith('text_encoder.model.pooler') for n in no_grad)


def test_loss_no_target_only_batch_gres():
    model = _model('gres')
    data = _data(model, True, batch_size=1, no_target_first=True)
    _set_presence(model, 0.0)  # σ = 0.5 everywhere
    losses = model(**data, mode='loss')
    # all 16 regions are negative: L_r = 16 · BCE(0, 0) = 16 · log 2
    expected = 16 * torch.log(torch.tensor(2.0))
    torch.testing.assert_close(losses['loss_region'], expected)
    assert losses['loss_mask'] > 0  # pushes every pixel to background


def test_swin_backbone_loss():
    model = _model('rec_res', arch='swin')
    assert model.backbone.out_channels == [16, 32, 64, 128]
    losses = model(**_data(model, True), mode='loss')
    assert set(losses) == LOSS_KEYS['rec_res']
    model.parse_losses(losses)[0].backward()
    assert model.head.anchor_proj.weight.grad is not None


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(interaction='direct'),
        dict(interaction_cfg=dict(use_l2v_gate=0)),
        dict(interaction_cfg=dict(propagate_from='visual')),
    ],
)
def test_ablation_variants_train(kwargs):
    model = _model('gres', **kwargs)
    losses = model(**_data(model, True), mode='loss')
    assert set(losses) == LOSS_KEYS['gres']
    model.parse_losses(losses)[0].backward()
    if kwargs.get('interaction') == 'direct':
        assert model.backbone.anchor_embeds is None
    elif 'propagate_from' in kwargs['interaction_cfg']:
        # Eq. 5 is computed, and its ω_v2 and α₁ learn in every stage
        for m in model.backbone.interactions:
            assert m.propagation.source == 'visual'
            assert m.visual.alpha1.grad is not None
            assert m.visual.visual_value[0].weight.grad is not None
    else:
        assert all(
            not m.l2v_gate.use_gate for m in model.backbone.interactions
        )


@pytest.mark.parametrize('mode', ['rec', 'res', 'gres'])
def test_predict_mode_fills_the_contract(mode):
    model = _model(mode).eval()
    _set_presence(model, 5.0)  # every region present
    data = _data(model, False, no_target_first=False)
    data['data_samples'][1].set_metainfo(
        dict(ori_shape=(32, 40), scale_factor=(2.0, 1.6))
    )
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out) == 2
    for s, shape in zip(out, [(64, 64), (32, 40)]):
        assert s.pred_sem_seg.data.shape == (1, *shape)
        assert s.pred_sem_seg.data.dtype == torch.bool
        assert s.pred_no_target is False
        assert s.pred_nt_score == pytest.approx(
            1 - torch.sigmoid(torch.tensor(5.0)).item(), abs=1e-6
        )
        inst = s.pred_instances
        assert len(inst) == 1 and inst.bboxes.shape == (1, 4)
        assert inst.labels.tolist() == [0]
        x0, y0, x1, y1 = inst.bboxes[0].tolist()
        assert 0 <= x0 <= x1 <= shape[1] and 0 <= y0 <= y1 <= shape[0]
        if mode == 'rec':
            # the merged "mask" is the filled box
            assert 'masks' not in inst
            xi0, yi0, xi1, yi1 = (round(v) for v in (x0, y0, x1, y1))
            filled = torch.zeros(shape, dtype=torch.bool)
            filled[yi0:yi1, xi0:xi1] = True
            assert torch.equal(s.pred_sem_seg.data[0], filled)
        else:
            assert inst.masks.shape == (1, *shape)
            assert torch.equal(inst.masks[0], s.pred_sem_seg.data[0])


def test_predict_gres_no_target():
    model = _model('gres').eval()
    _set_presence(model, -5.0)  # no region present
    data = _data(model, False)
    with torch.no_grad():
        out = model(**data, mode='predict')
    for s in out:
        assert s.pred_no_target is True
        assert s.pred_nt_score > 0.99
        assert not s.pred_sem_seg.data.any()
        assert len(s.pred_instances) == 0
        assert s.pred_instances.bboxes.shape == (0, 4)
    # a RES model always answers with a mask
    model = _model('res').eval()
    _set_presence(model, -5.0)
    with torch.no_grad():
        out = model(**_data(model, False), mode='predict')
    assert all(s.pred_no_target is False for s in out)
    assert all(len(s.pred_instances) == 1 for s in out)


def test_tensor_mode_and_the_words_reach_the_pixels():
    model = _model('rec_res').eval()
    data = _data(model, False)
    with torch.no_grad():
        outs = model(**data, mode='tensor')
    assert outs['presence'].shape == (2, 16)
    # ViT/8 at 64x64: 8x8 features, x2 pixel shuffle
    assert outs['masks'].shape == (2, 1, 16, 16)
    assert outs['bboxes'].shape == (2, 4)
    assert ((outs['bboxes'] >= 0) & (outs['bboxes'] <= 1)).all()
    for s in data['data_samples']:
        s.set_metainfo(dict(text='all blue squares on the right'))
    with torch.no_grad():
        other = model(**data, mode='tensor')
    assert not torch.allclose(outs['masks'], other['masks'])
    assert not torch.allclose(outs['presence'], other['presence'])


def test_empty_text_is_an_error():
    model = _model()
    data = _data(model, True)
    data['data_samples'][0].set_metainfo(dict(text=' '))
    with pytest.raises(ValueError, match='Empty referring expression'):
        model(**data, mode='loss')


EQ8_VISUAL = (
    'configs/raam/ablations/'
    'raam_vit-b_bert-base_2xb8-60e_grefcoco_eq8-visual.py'
)


@pytest.mark.parametrize(
    'base,expected',
    [
        (VIT_BASE, 222_258_212),
        (SWIN_BASE, 218_986_268),
        (EQ8_VISUAL, 224_626_728),
    ],
)
def test_full_size_configs_build_offline(base, expected):
    """ViT-B and Swin-B builds with random weights (no download). Eq. 8 as
    printed reads no P^V, so no stage has Eq. 5's ω_v2 (a 1x1 convolution
    and an affine instance norm, C² + 3C) nor α₁; the config that reads
    Eq. 8 as ω_p4(P^V) has them: 4 x (768² + 3·768 + 1) = 2,368,516
    more."""
    model = MODELS.build(Config.fromfile(base).model)
    n = sum(p.numel() for p in model.parameters())
    assert n == expected, n
