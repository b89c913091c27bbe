"""IGVGHead's switches for InstanceVG's released model: the learned
reference offset with detrex's inverse-sigmoid eps, and the sigmoid
no-target score."""

import math

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

from ..igvg_utils import fake_batch, shrink_igvg

register_all_modules(init_default_scope=False)
LEAF = 'configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco_instancevg.py'


def _model():
    cfg = shrink_igvg(Config.fromfile(LEAF).model)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(cfg).eval()


def test_reference_offset_and_eps():
    model = _model()
    head = model.head
    # a large bias pushes every reference past 1: the box origin is then
    # the clamped inverse sigmoid, log(1 / 1e-3) = 6.9078 (detrex eps)
    torch.nn.init.constant_(head.reference_points.bias, 8.0)
    inputs, samples = fake_batch()
    inputs = model.data_preprocessor(dict(inputs=inputs, data_samples=samples))
    with torch.no_grad():
        outs = model(**inputs, mode='tensor')
        tmp = head.reg_branches[0](outs['queries'][0])
    origin = math.log(1 / 1e-3)
    expected = torch.cat([tmp[..., :2] + origin, tmp[..., 2:]], -1)
    torch.testing.assert_close(outs['bbox_preds'][0], expected.sigmoid())


def test_paper_head_has_no_offset():
    cfg = shrink_igvg(
        Config.fromfile('configs/_base_/models/igvg_beit3-base.py').model
    )
    with DefaultScope.overwrite_default_scope('mmgres'):
        head = MODELS.build(cfg).head
    assert head.reference_points is None
    assert head.ref_inverse_sigmoid_eps == 1e-5


def _outs(nt_logits):
    # one query with p_target = softmax([ln 9, 0])[0] = 0.9
    return dict(
        cls_scores=torch.tensor([[[[math.log(9.0), 0.0]]]]),
        bbox_preds=torch.tensor([[[[0.5, 0.5, 0.2, 0.2]]]]),
        points=torch.tensor([[[0.5, 0.5]]]),
        mask_preds=torch.ones(1, 1, 4, 4),
        global_mask=-torch.ones(1, 1, 4, 4),
        nt_logits=torch.tensor([nt_logits]),
    )


def test_sigmoid_no_target_score():
    head = _model().head
    meta = dict(img_shape=(16, 16), ori_shape=(16, 16), scale_factor=(1, 1))
    head.test_cfg.update(score_thr=0.4, nt_score='sigmoid')
    # l_0 = 0: sigmoid 0.5 -> score 0.9 * 0.5 = 0.45 (kept)
    res = head.predict_by_feat(_outs([0.0, 5.0]), [meta])[0]
    torch.testing.assert_close(
        res['pred_instances'].scores, torch.tensor([0.45])
    )
    assert abs(res['nt_score'] - 0.5) < 1e-6
    # the paper's rule: 0.9 * (1 - softmax([0, 5])[1]) = 0.00607 (dropped)
    head.test_cfg.nt_score = 'softmax'
    res = head.predict_by_feat(_outs([0.0, 5.0]), [meta])[0]
    assert len(res['pred_instances']) == 0 and res['no_target']


def test_release_config_switches():
    model = _model()
    assert model.neck.lateral_convs[0].ln.eps == 1e-6  # InstanceVG LN2d
    assert model.head.mask_decoder.align_corners
    # the paper's defaults are the release's: S_global alone for the
    # no-target branch, Q_d . S_global without a mask embedding
    assert not hasattr(model.head.nt_branch, 'text_fc')
    assert not hasattr(model.head, 'mask_embed')
    assert model.head.aqg.score_reduce == 'max'
    assert model.head.aqg.text_selector.fill_mode == 'zero'
