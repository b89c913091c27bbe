"""GSVA's two teacher-forced test protocols: the paper's text and the
release's code (slot decision, grouping, the kept mask of a [REJ])."""

import contextlib

import pytest
import torch

from mmgres.models.grounders.gsva_protocols import (
    check_protocol,
    decide_slot,
    keeps_rejected_mask,
)
from mmgres.registry import MODELS

from ..gsva_utils import same_image_batch, tiny_gsva_cfg

WORD, SEG, REJ = 0, 1, 2


@pytest.mark.parametrize(
    'logits, gt_is_seg, paper, release',
    [
        # a word on top, [SEG] over [REJ]: the paper says [SEG]; the release
        # decides against the fed token both ways
        ([5.0, 2.0, 1.0], True, True, False),
        ([5.0, 2.0, 1.0], False, True, True),
        # a word on top, [REJ] over [SEG]
        ([5.0, 1.0, 2.0], True, False, False),
        ([5.0, 1.0, 2.0], False, False, True),
        # [SEG] on top: both agree
        ([0.0, 3.0, 1.0], True, True, True),
        ([0.0, 3.0, 1.0], False, True, True),
        # [REJ] on top: both agree
        ([0.0, 1.0, 3.0], True, False, False),
        ([0.0, 1.0, 3.0], False, False, False),
    ],
)
def test_decide_slot_hand_values(logits, gt_is_seg, paper, release):
    x = torch.tensor(logits)
    assert decide_slot(x, gt_is_seg, SEG, REJ, 'paper') is paper
    assert decide_slot(x, gt_is_seg, SEG, REJ, 'release') is release


def test_protocol_errors():
    with pytest.raises(ValueError, match='protocol must be one of'):
        check_protocol('strict', 'teacher_forced')
    with pytest.raises(ValueError, match="needs mode='teacher_forced'"):
        check_protocol('release', 'generate')
    with pytest.raises(ValueError, match='protocol must be one of'):
        MODELS.build(tiny_gsva_cfg(test_cfg=dict(protocol='official')))
    assert keeps_rejected_mask('release') and not keeps_rejected_mask('paper')


@contextlib.contextmanager
def _fixed_logits(model, values):
    """Make every LM logit the hand-set ``values`` ({token: logit}, others
    0), whatever the hidden state."""
    bias = torch.zeros(len(model.mllm.tokenizer))
    for token, v in values.items():
        bias[model.mllm.token_id(token)] = v
    handle = model.mllm.model.lm_head.register_forward_hook(
        lambda m, i, o: o * 0 + bias
    )
    try:
        yield
    finally:
        handle.remove()


def _predict(protocol, values, max_expressions=1):
    torch.manual_seed(0)
    # mask_thr far below any logit: every decoded mask is all True, so an
    # empty raw mask can only mean "not decoded / cleared"
    model = MODELS.build(
        tiny_gsva_cfg(
            test_cfg=dict(
                mode='teacher_forced',
                protocol=protocol,
                max_expressions=max_expressions,
                mask_thr=-1e9,
            )
        )
    ).eval()
    inputs, samples = same_image_batch()
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad(), _fixed_logits(model, values):
        return model.predict(data['inputs'], data['data_samples'])


# 'cat' (a word of the vocabulary) on top, [SEG] over [REJ]
WORD_TOP = {'cat': 5.0, '[SEG]': 2.0, '[REJ]': 1.0}


def test_paper_protocol_two_way_decision():
    out = _predict('paper', WORD_TOP)
    # [SEG] beats [REJ] at every slot: all targets, even the no-target 0
    assert [s.pred_no_target for s in out] == [False] * 4
    for s in out:
        assert bool(s.pred_sem_seg.data.all())


def test_release_protocol_vocabulary_argmax_and_kept_mask():
    out = _predict('release', WORD_TOP)
    # sample 0 is fed [REJ]: a word on top is "not [REJ]" -> [SEG];
    # samples 1-3 are fed [SEG]: a word on top is "not [SEG]" -> [REJ]
    assert [s.pred_no_target for s in out] == [False, True, True, True]
    assert bool(out[0].pred_sem_seg.data.all())
    assert 'pred_sem_seg_raw' not in out[0]
    for s in out[1:]:
        # user-facing mask cleared, the decoded mask kept for the metric
        assert not bool(s.pred_sem_seg.data.any())
        assert bool(s.pred_sem_seg_raw.data.all())
        assert torch.equal(s.pred_sem_seg_raw.data, s.pred_slot_sem_seg.data)
        assert len(s.pred_instances) == 0
        assert len(s.pred_instances_raw) == 1


def test_paper_protocol_rejected_slot_has_no_mask():
    # [REJ] over [SEG] (a word on top): the paper rejects all four and
    # gives no mask even as the raw prediction
    out = _predict('paper', {'cat': 5.0, '[SEG]': 1.0, '[REJ]': 2.0})
    assert [s.pred_no_target for s in out] == [True] * 4
    for s in out:
        assert not bool(s.pred_sem_seg.data.any())
        assert not bool(s.pred_sem_seg_raw.data.any())
        # the re-run mask is still recorded, apart from the prediction
        assert bool(s.pred_slot_sem_seg.data.all())


def test_release_protocol_one_dialogue_per_image():
    # test_cfg.max_expressions=1 holds for the paper protocol only: the
    # release asks about the three expressions of image A at once
    values = {'[SEG]': 1.0}
    paper = _predict('paper', values, max_expressions=1)
    release = _predict('release', values, max_expressions=1)
    assert paper[0].pred_answer == 'Sure, a cat:[SEG].'
    expect = (
        'Sure, a cat:[SEG], the red circle:[SEG], the big blue square:[SEG].'
    )
    assert [s.pred_answer for s in release[:3]] == [expect] * 3
    assert release[3].pred_answer == 'Sure, a dog:[SEG].'
