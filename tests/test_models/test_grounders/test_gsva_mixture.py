"""GSVA on batches of the pre-training mixture: referring, ReasonSeg and
VQA samples (``metainfo['task']``) in one batch."""

import random

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.grounders.gsva_slots import Dialogue
from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs

from ..gsva_utils import tiny_gsva_cfg

# words of the tiny tokenizer (gsva_utils.VOCAB and the templates)
VQA = [
    {'from': 'human', 'value': 'Where is the red circle?\n<image>'},
    {'from': 'gpt', 'value': 'On the left.'},
    {'from': 'human', 'value': 'Is it big?'},
    {'from': 'gpt', 'value': 'It is big.'},
]


def _model():
    torch.manual_seed(0)
    return MODELS.build(tiny_gsva_cfg())


def _as_vqa(sample, conversations=VQA):
    """A VQA sample as PackReferringInputs packs it: no mask."""
    sample.set_metainfo(
        dict(
            task='vqa',
            conversations=conversations,
            text='Where is the red circle?',
            no_target=False,
        )
    )
    h, w = sample.metainfo['img_shape']
    sample.gt_instances = sample.gt_instances[:0]
    assert sample.gt_instances.masks.masks.shape == (0, h, w)
    del sample.gt_sem_seg
    return sample


def _as_reason(sample, text='the big blue square on the left', **kw):
    sample.set_metainfo(dict(task='reason', text=text, is_sentence=True, **kw))
    return sample


def mixture_batch(size=64, seed=0):
    """Samples 0, 1: referring, one image (0 no-target, 1 a target);
    2: ReasonSeg (a target); 3: VQA."""
    inputs, samples = demo_grounding_inputs(
        batch_size=4,
        image_shape=(size, size),
        num_instances=2,
        no_target_first=True,
        texts=('a cat', 'the red circle', 'x', 'x'),
        seed=seed,
    )
    inputs[1] = inputs[0]
    for i, s in enumerate(samples):
        s.set_metainfo(dict(img_path=f'img{max(i, 1)}.png'))
    _as_reason(samples[2])
    _as_vqa(samples[3])
    return inputs, samples


def vqa_batch(size=64):
    inputs, samples = demo_grounding_inputs(
        batch_size=2, image_shape=(size, size), texts=('x',), seed=1
    )
    for i, s in enumerate(samples):
        s.set_metainfo(dict(img_path=f'vqa{i}.png'))
        _as_vqa(s)
    return inputs, samples


def _data(model, batch, training=True):
    inputs, samples = batch
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training
    )


def _last_templates(monkeypatch, rand=0.5):
    monkeypatch.setattr(random, 'choice', lambda seq: seq[-1])
    monkeypatch.setattr(random, 'random', lambda: rand)
    monkeypatch.setattr(random, 'randint', lambda a, b: 0)


def _without_grad(model):
    trainable = [
        (n, p) for n, p in model.named_parameters() if p.requires_grad
    ]
    assert trainable
    return [n for n, p in trainable if p.grad is None]


def test_reason_and_vqa_samples_are_dialogues_of_their_own():
    model = _model()
    inputs, samples = mixture_batch()
    images, dialogues = model.group_dialogues(inputs, samples)
    assert images == [0, 2, 3]
    assert dialogues == [
        Dialogue(0, [0, 1]),
        Dialogue(1, [2], 'reason'),
        Dialogue(2, [3], 'vqa'),
    ]
    # a ReasonSeg query on the referring samples' image: same image, own
    # dialogue, after theirs
    inputs[2] = inputs[0]
    samples[2].set_metainfo(dict(img_path='img1.png'))
    images, dialogues = model.group_dialogues(inputs, samples)
    assert images == [0, 3]
    assert dialogues == [
        Dialogue(0, [0, 1]),
        Dialogue(0, [2], 'reason'),
        Dialogue(1, [3], 'vqa'),
    ]
    samples[3].set_metainfo(dict(task='caption'))
    with pytest.raises(ValueError, match="'caption'"):
        model.group_dialogues(inputs, samples)


def test_mixed_batch_losses_and_every_trainable_param_gets_grad():
    model = _model().train()
    data = _data(model, mixture_batch())
    decoded = []
    forward = model.mask_head.forward
    model.mask_head.forward = lambda s, i, f: (
        decoded.append(i.tolist()) or forward(s, i, f)
    )
    losses = model(**data, mode='loss')
    del model.mask_head.forward
    # [SEG] slots: referring sample 1 (image 0), ReasonSeg sample 2
    # (image 1); the [REJ] of sample 0 and the VQA dialogue decode nothing
    assert decoded == [[0, 1]]
    assert set(losses) == {'loss_lm', 'loss_mask', 'loss_dice'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert _without_grad(model) == []
    # mode='tensor': slots of the referring and ReasonSeg dialogues only
    with torch.no_grad():
        out = model(**_data(model, mixture_batch(), False), mode='tensor')
    assert out['logits'].shape[0] == 3  # dialogues
    assert out['slot_logits'].shape == (3, 2)
    assert out['mask_logits'].shape[0] == 2


def test_loss_lm_averages_over_every_dialogues_answer_tokens(monkeypatch):
    _last_templates(monkeypatch)  # the reason answer "[SEG]."
    model = _model().eval()  # no dropout
    data = _data(model, mixture_batch())
    samples = data['data_samples']
    with torch.no_grad():
        loss = model.loss(data['inputs'], samples)['loss_lm']
        run = model.teacher_forced_pass(
            data['inputs'], samples, [True, False, False, False], train=True
        )
    labels, logits = run.batch['labels'], run.out['logits']
    tok = model.mllm.tokenizer
    learned = [
        tok.convert_ids_to_tokens(row[row != -100].tolist()) for row in labels
    ]
    assert learned == [
        'sure , a cat : [REJ] , the red circle : [SEG] . </s>'.split(),
        ['[SEG]', '.', '</s>'],
        'on the left . </s> it is big . </s>'.split(),
    ]
    total, count = 0.0, 0
    for b in range(len(labels)):
        for t in range(1, labels.shape[1]):
            if labels[b, t] != -100:
                total += F.cross_entropy(logits[b, t - 1], labels[b, t])
                count += 1
    assert count == 14 + 3 + 10
    torch.testing.assert_close(loss, total / count)


@pytest.mark.parametrize('kind', ['vqa', 'explanation'])
def test_batch_without_seg_slot_zero_mask_losses_all_params_get_grad(
    kind, monkeypatch
):
    """VQA only, or a ReasonSeg answer that is its explanation alone (the
    release's p = 0.1 draw) beside a VQA one: no [SEG] slot, mask losses 0
    that still reach every mask-head parameter (DDP without
    find_unused_parameters)."""
    model = _model().train()
    inputs, samples = vqa_batch()
    if kind == 'explanation':
        _last_templates(monkeypatch, rand=0.05)
        _as_reason(samples[0], explanation='it is big')
        samples[0].metainfo.pop('conversations', None)
    losses = model(**_data(model, (inputs, samples)), mode='loss')
    assert losses['loss_mask'] == 0 and losses['loss_dice'] == 0
    assert torch.isfinite(losses['loss_lm']) and losses['loss_lm'] > 0
    sum(losses.values()).backward()
    assert _without_grad(model) == []
    head = [p for p in model.mask_head.parameters() if p.requires_grad]
    assert head and all(p.grad is not None for p in head)


def test_collectives_do_not_depend_on_the_mixture(tmp_path, monkeypatch):
    """Under DDP every rank runs the same collectives whatever it drew."""
    import torch.distributed as dist

    calls = []
    for name in ('all_reduce', 'all_gather', 'broadcast', 'reduce'):
        real = getattr(dist, name)
        monkeypatch.setattr(
            dist,
            name,
            lambda t, *a, _n=name, _r=real, **k: (
                calls.append((_n, tuple(getattr(t, 'shape', ()))))
                or _r(t, *a, **k)
            ),
        )
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/g', rank=0, world_size=1
    )
    try:
        seen = []
        for batch in (mixture_batch(), vqa_batch()):
            calls.clear()
            model = _model().train()
            model(**_data(model, batch), mode='loss')
            seen.append(list(calls))
    finally:
        dist.destroy_process_group()
    assert seen[0] == seen[1]


def test_predict_reason_sample_with_the_release_test_question():
    model = _model().eval()
    inputs, samples = mixture_batch()
    inputs, samples = inputs[:3], samples[:3]
    data = _data(model, (inputs, samples), False)
    samples = data['data_samples']
    _, dialogues = model.group_dialogues(data['inputs'], samples)
    enc = model._encode_dialogues(
        samples, dialogues, [True, False, False], True, train=False
    )[1]
    # data/dataset.py ValDataset: "<image>\n {sent} Please output
    # segmentation mask." answered "[SEG]"
    assert enc['text'].endswith(
        '<image>\n the big blue square on the left Please output '
        'segmentation mask. ASSISTANT: [SEG]'
    )
    with torch.no_grad():
        slot_logits = model(**data, mode='tensor')['slot_logits']
        out = model(**data, mode='predict')
    reason = out[2]
    rejected = bool(slot_logits[2, 1] > slot_logits[2, 0])
    assert reason.pred_no_target == rejected
    assert reason.metainfo['pred_answer'] == ('[REJ]' if rejected else '[SEG]')
    assert reason.pred_sem_seg.data.shape == (1, 64, 64)
    assert out[0].metainfo['pred_answer'].startswith('Sure,')


def test_predicting_a_vqa_sample_is_a_clear_error():
    model = _model().eval()
    data = _data(model, mixture_batch(), False)
    with torch.no_grad(), pytest.raises(ValueError, match=r'VQA.*img3\.png'):
        model(**data, mode='predict')
