"""The IGVG grounder, built from the real config shrunk (tiny random
BEiT-3), in loss, predict and tensor modes."""

import pytest
import torch
from mmengine.config import Config

from mmgres.registry import MODELS

from ..igvg_utils import BASE, fake_batch, tiny_igvg_cfg


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_igvg_cfg(**kw))
    model.init_weights()
    return model


def test_loss_mode_all_terms_and_backward():
    model = _model()
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    losses = model(**data, mode='loss')
    for k in (
        'loss_cls',
        'loss_bbox',
        'loss_iou',
        'd0.loss_cls',
        'loss_mask',
        'loss_dice',
        'loss_neg_mask',
        'loss_global_mask',
        'loss_global_dice',
        'loss_nt',
        'loss_minimap_bce',
    ):
        assert k in losses, k
        assert torch.isfinite(losses[k]), k
    sum(losses.values()).backward()
    # gradients reach both modalities of BEiT-3 and the SimFPN
    beit = model.backbone.beit3
    assert beit.text_embed.weight.grad.abs().sum() > 0
    assert beit.vision_embed.proj.weight.grad.abs().sum() > 0
    assert model.neck.fpn_convs[0].conv.weight.grad.abs().sum() > 0


def test_predict_mode_fills_the_contract():
    model = _model().eval()
    model.head.test_cfg.score_thr = 0.0  # keep every query
    inputs, samples = fake_batch()
    samples[1].set_metainfo(
        dict(ori_shape=(48, 80), scale_factor=(0.8, 4 / 3))
    )
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
    assert inst.masks.shape == (4, 48, 80) and inst.bboxes.shape == (4, 4)
    assert inst.points.shape == (4, 2) and inst.labels.tolist() == [0] * 4
    assert torch.all(inst.scores[:-1] >= inst.scores[1:])
    # boxes inside the original image
    assert (inst.bboxes[:, 0::2] <= 80).all()
    assert (inst.bboxes[:, 1::2] <= 48).all()
    assert isinstance(s.pred_no_target, bool)
    assert 0.0 <= s.pred_nt_score <= 1.0
    # every DPS point, in the original frame (64x64 input, 4x4 cells)
    assert s.pred_points.shape == (4, 2)
    cells = s.pred_points / torch.tensor([80 / 64, 48 / 64]) / 16 - 0.5
    torch.testing.assert_close(cells, cells.round())
    # the merged mask holds every kept instance
    assert s.pred_sem_seg.data[0][inst.masks.any(0)].all()

    model.head.test_cfg.score_thr = 1.1  # nothing passes
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert len(out[0].pred_instances) == 0 and out[0].pred_no_target
    assert out[0].pred_instances.bboxes.shape == (0, 4)


def test_tensor_mode_outputs():
    model = _model(layers=3)
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    outs = model(**data, mode='tensor')
    assert outs['cls_scores'].shape == (3, 2, 4, 2)
    assert outs['bbox_preds'].shape == (3, 2, 4, 4)
    assert outs['mask_preds'].shape == (2, 4, 16, 16)
    assert outs['nt_logits'].shape == (2, 2)


def test_the_expression_changes_the_prediction():
    model = _model().eval()
    inputs, samples = fake_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        a = model(**data, mode='tensor')['global_mask']
        for s in data['data_samples']:
            s.set_metainfo(dict(text='the blue square on the right'))
        b = model(**data, mode='tensor')['global_mask']
    assert not torch.allclose(a, b)


def test_text_encoder_is_the_backbone_and_empty_text_errors():
    model = _model()
    assert model.text_encoder is model.backbone
    assert model.text_encoder.max_length == 12
    assert 'text_encoder' not in dict(model.named_children())
    inputs, samples = fake_batch()
    samples[0].set_metainfo(dict(text='  '))
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True
    )
    with pytest.raises(ValueError, match='Empty referring expression'):
        model(**data, mode='loss')


def test_full_size_config_builds_offline():
    """The paper's model: BEiT-3 base (the official 222 M with its
    projections to 256) plus SimFPN and the head."""
    cfg = Config.fromfile(BASE)
    model = MODELS.build(cfg.model)
    count = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert abs(backbone - 222e6) / 222e6 < 0.02, backbone
    head = count - backbone
    # SimFPN + UNet + AQG + 3 deformable layers + branches: a few M
    assert 3e6 < head < 15e6, head
    assert model.head.num_queries == 10
    assert model.backbone.img_size == 320 and model.backbone.max_length == 50
    # the paper's head: Q_s = Q_d . S_global (Sec. 3.1.2) and a no-target
    # branch on S_global alone (Sec. 3), as InstanceVG's
    # uni_gref_deformable_head.py; the full-size model has 233,805,769
    # parameters
    assert not hasattr(model.head, 'mask_embed')
    assert type(model.head.nt_branch).__name__ == 'NoTargetBranch'
    assert not hasattr(model.head.nt_branch, 'text_fc')
    assert count == 233_805_769
