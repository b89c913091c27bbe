"""GroundingTTAModel: flip-back, votes, no-target mean, instance NMS."""

import copy

import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData

from mmgres.models.grounders import GroundingTTAModel, mask_nms
from mmgres.registry import MODELS

from ..instalign_utils import fake_batch, tiny_instalign_cfg


class _Model(BaseModel):
    """A model for the merge tests, which never run it."""

    def forward(self, *args, **kwargs):
        raise AssertionError('not called by merge_preds')


def test_mask_nms_hand_computed():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, :2, :2] = True  # area 4
    masks[1, :2, :3] = True  # area 6, IoU with 0: 4/6
    masks[2, 2:, 2:] = True  # disjoint
    scores = torch.tensor([0.6, 0.9, 0.5])
    assert mask_nms(masks, scores, 0.5).tolist() == [1, 2]
    assert mask_nms(masks, scores, 0.7).tolist() == [1, 0, 2]


def _view(mask, nt, flip, inst_masks, inst_boxes, scores):
    sample = DetDataSample(
        metainfo=dict(
            ori_shape=(4, 6),
            flip=flip,
            flip_direction='horizontal' if flip else None,
            text='the box on the right' if not flip else 'the box on the left',
        )
    )
    sample.pred_sem_seg = PixelData(data=mask[None])
    sample.pred_nt_score = nt
    sample.pred_no_target = nt > 0.5
    sample.pred_instances = InstanceData(
        masks=inst_masks,
        bboxes=inst_boxes,
        scores=scores,
        labels=torch.zeros(len(scores), dtype=torch.long),
    )
    return sample


def _two_views():
    """View 0 as is; view 1 predicted on the flipped image: the same
    object (columns 4-5), seen at columns 0-1, plus another at 2-3."""
    m0 = torch.zeros(4, 6, dtype=torch.bool)
    m0[:, 4:] = True
    m1 = torch.zeros(4, 6, dtype=torch.bool)
    m1[:, :2] = True  # = m0 flipped
    m1[0, 2:4] = True  # only view 1 has this (columns 2-3 after un-flip)
    inst1 = torch.zeros(2, 4, 6, dtype=torch.bool)
    inst1[0, :, :2] = True  # view 0's object, flipped
    inst1[1, 0, 2:4] = True
    v0 = _view(
        m0,
        0.2,
        False,
        m0[None].clone(),
        torch.tensor([[4.0, 0.0, 6.0, 4.0]]),
        torch.tensor([0.8]),
    )
    v1 = _view(
        m1,
        0.7,
        True,
        inst1,
        torch.tensor([[0.0, 0.0, 2.0, 4.0], [2.0, 0.0, 4.0, 1.0]]),
        torch.tensor([0.9, 0.6]),
    )
    return v0, v1, m0, m1


def test_merge_flips_back_votes_and_averages():
    v0, v1, m0, m1 = _two_views()
    tta = GroundingTTAModel(module=_Model(), nt_thr=0.5)
    (out,) = tta.merge_preds([[v1, v0]])  # view order must not matter
    # ground truth and metainfo come from the unflipped view
    assert out.metainfo['text'] == 'the box on the right'
    union = m0 | m1.flip(-1)
    torch.testing.assert_close(out.pred_sem_seg.data[0], union)
    assert out.pred_nt_score == pytest.approx(0.45)
    assert out.pred_no_target is False
    # instances: view 1's first one is view 0's, flipped; NMS keeps the
    # higher score (0.9) with its box flipped back, plus the other one
    inst = out.pred_instances
    assert inst.scores.tolist() == pytest.approx([0.9, 0.6])
    torch.testing.assert_close(inst.masks[0], m0)
    torch.testing.assert_close(
        inst.bboxes, torch.tensor([[4.0, 0.0, 6.0, 4.0], [2.0, 0.0, 4.0, 1.0]])
    )

    both = GroundingTTAModel(module=_Model(), mask_vote=1.0, nt_thr=0.4)
    (out,) = both.merge_preds([[v0, v1]])
    assert out.pred_no_target is True
    # "no target" shows no mask; the vote is kept as the raw mask
    assert not out.pred_sem_seg.data.any()
    torch.testing.assert_close(out.pred_sem_seg_raw.data[0], m0 & m1.flip(-1))
    # the default: a vote of the views' own decisions (view 1 said yes)
    (out,) = GroundingTTAModel(module=_Model()).merge_preds([[v0, v1]])
    assert out.pred_no_target is True
    assert out.pred_nt_score == pytest.approx(0.45)
    (out,) = GroundingTTAModel(module=_Model(), nt_vote=1.0).merge_preds(
        [[v0, v1]]
    )
    assert out.pred_no_target is False
    with pytest.raises(ValueError, match='nt_vote'):
        GroundingTTAModel(module=_Model(), nt_vote=0.0)
    with pytest.raises(ValueError, match='mask_vote'):
        GroundingTTAModel(module=_Model(), mask_vote=0.0)


def test_merge_box_only_and_empty_instances():
    v0, v1, _, _ = _two_views()
    for v in (v0, v1):
        del v.pred_instances.masks
    tta = GroundingTTAModel(module=_Model())
    (out,) = tta.merge_preds([[v0, v1]])
    # box NMS: view 1's first box flips back onto view 0's box; the vote
    # says "no target", so the instances are the raw ones
    assert len(out.pred_instances) == 0
    raw = out.pred_instances_raw
    assert raw.scores.tolist() == pytest.approx([0.9, 0.6])
    for v in (v0, v1):
        v.pred_instances = v.pred_instances[:0]
    (out,) = tta.merge_preds([[v0, v1]])
    assert len(out.pred_instances) == 0


def test_tta_instalign_end_to_end_matches_its_views():
    """Wrapping a tiny InstAlign: the merged no-target score is the mean of
    the two views' scores, the merged mask the union of view 0's mask and
    view 1's flipped back."""
    torch.manual_seed(0)
    cfg = Config(dict(model=tiny_instalign_cfg()))
    tta = MODELS.build(dict(type='GroundingTTAModel', module=cfg.model))
    tta.eval()
    inputs, samples = fake_batch(batch_size=2, no_target_first=False)
    flipped_inputs = inputs.flip(-1)
    flipped = []
    for s in samples:
        f = copy.deepcopy(s)
        f.set_metainfo(dict(flip=True, flip_direction='horizontal'))
        flipped.append(f)
        s.set_metainfo(dict(flip=False, flip_direction=None))
    views = [
        dict(inputs=list(inputs), data_samples=samples),
        dict(inputs=list(flipped_inputs), data_samples=flipped),
    ]
    with torch.no_grad():
        singles = [tta.module.test_step(copy.deepcopy(v)) for v in views]
        merged = tta.test_step(
            dict(
                inputs=[v['inputs'] for v in views],
                data_samples=[v['data_samples'] for v in views],
            )
        )
    assert len(merged) == 2
    for i, out in enumerate(merged):
        a, b = singles[0][i], singles[1][i]
        assert out.pred_nt_score == pytest.approx(
            (a.pred_nt_score + b.pred_nt_score) / 2
        )
        union = a.pred_sem_seg.data[0] | b.pred_sem_seg.data[0].flip(-1)
        torch.testing.assert_close(out.pred_sem_seg.data[0], union)
        assert out.metainfo['flip'] is False
