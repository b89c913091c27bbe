"""No target means no mask: a prediction that says "no target" has an empty
merged mask and no instances, and keeps the model's own in
``pred_sem_seg_raw`` / ``pred_instances_raw``; for every grounder and the
flip TTA model."""

import contextlib
import copy

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData

from mmgres.models.grounders import GroundingTTAModel
from mmgres.models.grounders.base_grounder import (
    apply_no_target_contract,
    raw_prediction,
)
from mmgres.registry import MODELS

from ..gsva_utils import same_image_batch, tiny_gsva_cfg
from ..igvg_utils import fake_batch as igvg_batch
from ..igvg_utils import tiny_igvg_cfg
from ..instalign_utils import fake_batch as instalign_batch
from ..instalign_utils import tiny_instalign_cfg
from ..raam_utils import fake_batch as raam_batch
from ..raam_utils import tiny_raam_cfg


def _hand_sample(no_target, h=4, w=6):
    s = DetDataSample(metainfo=dict(ori_shape=(h, w)))
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[1:3, 2:5] = True
    s.pred_sem_seg = PixelData(data=mask[None])
    s.pred_instances = InstanceData(
        masks=mask[None],
        bboxes=torch.tensor([[2.0, 1.0, 5.0, 3.0]]),
        scores=torch.tensor([0.9]),
        labels=torch.zeros(1, dtype=torch.long),
        points=torch.tensor([[3.0, 2.0]]),
    )
    s.pred_no_target = no_target
    s.pred_nt_score = 0.8 if no_target else 0.2
    return s


def test_contract_clears_no_target_and_keeps_raw():
    s = _hand_sample(True)
    mask, inst = s.pred_sem_seg, s.pred_instances
    out = apply_no_target_contract(s)
    assert out is s
    assert s.pred_sem_seg.data.shape == (1, 4, 6)
    assert s.pred_sem_seg.data.dtype == torch.bool
    assert not s.pred_sem_seg.data.any()
    assert len(s.pred_instances) == 0
    # the cleared instances keep every field, with no row
    assert set(s.pred_instances.keys()) == set(inst.keys())
    assert s.pred_instances.masks.shape == (0, 4, 6)
    assert s.pred_instances.bboxes.shape == (0, 4)
    assert s.pred_sem_seg_raw is mask and s.pred_instances_raw is inst
    assert raw_prediction(s, 'pred_sem_seg') is mask
    assert raw_prediction(s, 'pred_instances') is inst
    # idempotent
    apply_no_target_contract(s)
    assert s.pred_sem_seg_raw is mask and not s.pred_sem_seg.data.any()
    # a sample whose decision becomes "target" gets its own mask back
    s.pred_no_target = False
    apply_no_target_contract(s)
    assert s.pred_sem_seg is mask and s.pred_instances is inst
    assert 'pred_sem_seg_raw' not in s and 'pred_instances_raw' not in s


def test_contract_leaves_target_predictions_alone():
    s = _hand_sample(False)
    mask, inst = s.pred_sem_seg, s.pred_instances
    apply_no_target_contract(s)
    assert s.pred_sem_seg is mask and s.pred_instances is inst
    assert 'pred_sem_seg_raw' not in s and 'pred_instances_raw' not in s
    assert raw_prediction(s, 'pred_sem_seg') is mask
    with pytest.raises(KeyError, match='pred_points'):
        raw_prediction(s, 'pred_points')


def _predict(model, batch):
    inputs, samples = batch
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        return model(**data, mode='predict')


def _check_cleared(out, target_out=None):
    """Every sample of ``out`` says "no target", shows nothing and keeps
    its raw prediction; where given, the raw prediction is the one the
    same model makes when it says "target" (``target_out``)."""
    for k, s in enumerate(out):
        assert s.pred_no_target is True
        assert not s.pred_sem_seg.data.any()
        assert len(s.pred_instances) == 0
        assert s.pred_sem_seg_raw.data.shape == s.pred_sem_seg.data.shape
        assert 'pred_instances_raw' in s
        if target_out is not None:
            ref = target_out[k]
            assert ref.pred_no_target is False
            assert 'pred_sem_seg_raw' not in ref
            torch.testing.assert_close(
                s.pred_sem_seg_raw.data, ref.pred_sem_seg.data
            )
            torch.testing.assert_close(
                s.pred_instances_raw.masks, ref.pred_instances.masks
            )
            torch.testing.assert_close(
                s.pred_instances_raw.scores, ref.pred_instances.scores
            )


def test_instalign_no_target_has_no_mask():
    torch.manual_seed(0)
    model = MODELS.build(tiny_instalign_cfg()).eval()
    # every query kept with a full mask: the raw prediction is not empty
    model.head.test_cfg.update(score_thr=0.0, mask_thr=0.0, nt_thr=1.0)
    target_out = _predict(model, instalign_batch())
    model.head.test_cfg.update(nt_thr=0.0)  # p_NT > 0: always no target
    out = _predict(model, instalign_batch())
    assert all(s.pred_sem_seg_raw.data.all() for s in out)
    assert all(len(s.pred_instances_raw) == 6 for s in out)
    _check_cleared(out, target_out)


def test_igvg_no_target_has_no_mask():
    torch.manual_seed(0)
    model = MODELS.build(tiny_igvg_cfg()).eval()
    model.head.test_cfg.update(
        nt_rule='classifier', score_thr=0.0, mask_thr=0.0, nt_thr=1.0
    )
    target_out = _predict(model, igvg_batch())
    model.head.test_cfg.update(nt_thr=-1.0)
    out = _predict(model, igvg_batch())
    assert all(s.pred_sem_seg_raw.data.all() for s in out)
    assert all(len(s.pred_instances_raw) > 0 for s in out)
    _check_cleared(out, target_out)
    # the selected points are not instances: they stay for analysis
    assert all(len(s.pred_points) > 0 for s in out)


def test_raam_no_target_has_no_mask():
    torch.manual_seed(0)
    model = MODELS.build(tiny_raam_cfg('gres')).eval()
    model.head.test_cfg.update(presence_thr=2.0)  # no region is present
    out = _predict(model, raam_batch())
    _check_cleared(out)
    # RaAM's head already empties its answer when no region is present
    assert not any(s.pred_sem_seg_raw.data.any() for s in out)


@contextlib.contextmanager
def _force_rej(model):
    """Every [SEG]/[REJ] decision becomes [REJ]."""
    bias = torch.zeros(len(model.mllm.tokenizer))
    bias[model.mllm.token_id('[REJ]')] = 100.0
    handle = model.mllm.model.lm_head.register_forward_hook(
        lambda m, i, o: o + bias
    )
    try:
        yield
    finally:
        handle.remove()


def test_gsva_no_target_has_no_mask():
    torch.manual_seed(0)
    model = MODELS.build(tiny_gsva_cfg()).eval()
    with _force_rej(model):
        out = _predict(model, same_image_batch())
    _check_cleared(out)
    # the decoded mask of each [REJ] stays GSVA's record
    assert all('pred_slot_sem_seg' in s for s in out)


class _Model(BaseModel):
    """A model for the merge tests, which never run it."""

    def forward(self, *args, **kwargs):
        raise AssertionError('not called by merge_preds')


def _tta_views(nt0, nt1):
    """Two views of one sample (the second predicted on the flipped image)
    as a model outputs them, each with a non-empty raw mask and instance."""
    views = []
    for k, (nt, flip) in enumerate([(nt0, False), (nt1, True)]):
        s = DetDataSample(
            metainfo=dict(
                ori_shape=(4, 6),
                flip=flip,
                flip_direction='horizontal' if flip else None,
            )
        )
        mask = torch.zeros(4, 6, dtype=torch.bool)
        mask[:, (0 if flip else 4) :][:, :2] = True
        mask[k, 2] = True
        s.pred_sem_seg = PixelData(data=mask[None])
        ys, xs = torch.nonzero(mask, as_tuple=True)
        s.pred_instances = InstanceData(
            masks=mask[None],
            bboxes=torch.tensor(
                [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
            ).float(),
            scores=torch.tensor([0.9 - 0.1 * k]),
            labels=torch.zeros(1, dtype=torch.long),
        )
        s.pred_no_target = nt
        s.pred_nt_score = 0.8 if nt else 0.3
        views.append(s)
    return views


@pytest.mark.parametrize('nts', [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize('nt_thr', [None, 0.5])
def test_tta_merges_the_raw_views_as_before(nts, nt_thr):
    """The TTA model merges the views' own masks: with the views under the
    contract, its raw result is the result of merging the raw views, and
    it applies the contract to the merged decision."""
    tta = GroundingTTAModel(module=_Model(), nt_thr=nt_thr)
    raw_views = _tta_views(*nts)
    (ref,) = tta.merge_preds([copy.deepcopy(raw_views)])
    ref_mask = raw_prediction(ref, 'pred_sem_seg').data
    ref_inst = raw_prediction(ref, 'pred_instances')
    assert ref_mask.any() and len(ref_inst) > 0
    views = [apply_no_target_contract(copy.deepcopy(v)) for v in raw_views]
    assert any('pred_sem_seg_raw' in v for v in views)
    (out,) = tta.merge_preds([views])
    assert out.pred_no_target == ref.pred_no_target
    assert out.pred_nt_score == pytest.approx(ref.pred_nt_score)
    torch.testing.assert_close(
        raw_prediction(out, 'pred_sem_seg').data, ref_mask
    )
    raw_inst = raw_prediction(out, 'pred_instances')
    torch.testing.assert_close(raw_inst.masks, ref_inst.masks)
    torch.testing.assert_close(raw_inst.bboxes, ref_inst.bboxes)
    torch.testing.assert_close(raw_inst.scores, ref_inst.scores)
    if out.pred_no_target:
        assert not out.pred_sem_seg.data.any()
        assert len(out.pred_instances) == 0
    else:
        assert 'pred_sem_seg_raw' not in out
        torch.testing.assert_close(out.pred_sem_seg.data, ref_mask)
