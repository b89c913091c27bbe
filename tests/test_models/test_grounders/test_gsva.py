import contextlib

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.grounders.gsva_slots import Dialogue, SegSlots
from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs

from ..gsva_utils import same_image_batch, tiny_gsva_cfg


def _model(**kw):
    torch.manual_seed(0)
    return MODELS.build(tiny_gsva_cfg(**kw))


def _data(model, training, batch=None):
    inputs, samples = batch or same_image_batch()
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training
    )


@contextlib.contextmanager
def _force(model, token, margin=100.0):
    """Add ``margin`` to one token's logit everywhere (forces [SEG] or
    [REJ] decisions and generations)."""
    bias = torch.zeros(len(model.mllm.tokenizer))
    bias[model.mllm.token_id(token)] = margin
    handle = model.mllm.model.lm_head.register_forward_hook(
        lambda m, i, o: o + bias
    )
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _count_decoded(model):
    """Record how many prompts the mask head decodes per call."""
    calls = []
    orig = model.mask_head.forward

    def spy(states, image_index, feats):
        calls.append(image_index.tolist())
        return orig(states, image_index, feats)

    model.mask_head.forward = spy
    try:
        yield calls
    finally:
        del model.mask_head.forward


def test_group_dialogues_hand_example():
    model = _model()
    inputs, samples = same_image_batch()
    # batch order A, A, A, B -> make it A, A, B, A
    inputs = inputs[[0, 1, 3, 2]]
    samples = [samples[i] for i in (0, 1, 3, 2)]
    images, dialogues = model.group_dialogues(inputs, samples, 2)
    assert images == [0, 2]
    assert dialogues == [
        Dialogue(image=0, samples=[0, 1]),
        Dialogue(image=0, samples=[3]),
        Dialogue(image=1, samples=[2]),
    ]
    # a flipped copy of an image is another image
    samples[1].set_metainfo(dict(flip=True))
    samples[0].set_metainfo(dict(flip=False))
    samples[3].set_metainfo(dict(flip=False))
    images, dialogues = model.group_dialogues(inputs, samples, 3)
    assert images == [0, 1, 2]
    assert dialogues[0] == Dialogue(image=0, samples=[0, 3])
    # same path but different pixels: not grouped
    samples[1].set_metainfo(dict(flip=False))
    inputs = inputs.clone()
    inputs[1, 0, 0, 0] += 1
    images, _ = model.group_dialogues(inputs, samples, 3)
    assert images == [0, 1, 2]


def test_loss_terms_backward_and_trainable_parts():
    model = _model()
    model.train()
    losses = model(**_data(model, True), mode='loss')
    assert set(losses) == {'loss_lm', 'loss_mask', 'loss_dice'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    m = model.mllm.model
    q = m.model.language_model.layers[0].self_attn.q_proj
    assert q.lora_B['default'].weight.grad is not None
    assert m.lm_head.weight.grad is not None
    assert m.model.language_model.embed_tokens.weight.grad is not None
    assert model.mask_head.proj.layers[0].weight.grad is not None
    decoder = model.mask_head.segmentor.model.mask_decoder
    assert decoder.upscale_conv1.weight.grad is not None
    frozen = [
        m.model.vision_tower.embeddings.patch_embedding.weight,
        q.base_layer.weight,
        model.mask_head.segmentor.model.vision_encoder.patch_embed.projection.weight,
    ]
    assert all(not p.requires_grad and p.grad is None for p in frozen)


def test_loss_lm_is_ce_over_answer_tokens_only():
    model = _model()
    model.eval()  # no dropout; the answer template is the test question
    data = _data(model, True)
    with torch.no_grad():
        out = model(**data, mode='tensor')
        samples = data['data_samples']
        _, dialogues = model.group_dialogues(data['inputs'], samples)
        encs = model._encode_dialogues(
            samples,
            dialogues,
            [s.metainfo['no_target'] for s in samples],
            with_answer=True,
            train=False,
        )
        batch = model._collate(encs, 'right', 'cpu')
        labels = batch['labels']
        logits = out['logits']
        # by hand: mean CE of the next-token predictions of answer tokens
        total, count = 0.0, 0
        for b in range(len(labels)):
            for t in range(1, labels.shape[1]):
                if labels[b, t] != -100:
                    total += F.cross_entropy(logits[b, t - 1], labels[b, t])
                    count += 1
        lm = model.loss_lm(
            logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten()
        )
    # answers: "sure , a cat : [REJ] , the red circle : [SEG] , the big blue
    # square : [SEG] . </s>" (21) and "sure , a dog : [SEG] . </s>" (8)
    assert count == 21 + 8
    torch.testing.assert_close(lm, total / count)


def test_k_seg_tokens_in_k_masks_out():
    """Token bookkeeping: one decoded mask per [SEG], none per [REJ]."""
    model = _model()
    data = _data(model, True)
    with _count_decoded(model) as calls:
        model(**data, mode='loss')
    # dialogue 1 (image 0): a cat [REJ], red circle [SEG], blue square [SEG];
    # dialogue 2 (image 1): a dog [SEG]
    assert calls == [[0, 0, 1]]
    # every slot absent: nothing decoded, zero mask losses
    for s in data['data_samples']:
        s.set_metainfo(dict(no_target=True))
    with _count_decoded(model) as calls:
        losses = model(**data, mode='loss')
    assert calls == [] and losses['loss_mask'] == 0
    with torch.no_grad():
        out = model(**_data(model, False), mode='tensor')
    assert out['slot_logits'].shape == (4, 2)
    assert out['mask_logits'].shape == (3, 32, 32)


def test_dialogues_split_beyond_max_expressions():
    model = _model(
        conversation=dict(type='GSVAConversationBuilder', max_expressions=2)
    )
    data = _data(model, True)
    with torch.no_grad():
        out = model(**data, mode='tensor')
    assert out['logits'].shape[0] == 3  # [0, 1], [2], [3]
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_lm'])


def _check_contract(s, shape):
    assert s.pred_sem_seg.data.shape == (1, *shape)
    assert s.pred_sem_seg.data.dtype == torch.bool
    assert isinstance(s.pred_no_target, bool)
    assert 0.0 <= s.pred_nt_score <= 1.0
    inst = s.pred_instances
    assert inst.bboxes.shape == (len(inst), 4)
    assert inst.masks.shape[1:] == shape
    assert isinstance(s.metainfo['pred_answer'], str)


def test_teacher_forced_decision_is_the_slot_argmax():
    model = _model().eval()
    data = _data(model, False)
    data['data_samples'][3].set_metainfo(dict(ori_shape=(48, 80)))
    with torch.no_grad():
        slot_logits = model(**data, mode='tensor')['slot_logits']
        out = model(**data, mode='predict')
    for s, two in zip(out, slot_logits):
        assert s.pred_no_target == bool(two[1] > two[0])
        torch.testing.assert_close(
            torch.tensor(s.pred_nt_score), two.softmax(-1)[1]
        )
        if s.pred_no_target:
            assert not s.pred_sem_seg.data.any() and len(s.pred_instances) == 0
        else:
            assert torch.equal(s.pred_sem_seg.data, s.pred_slot_sem_seg.data)
    _check_contract(out[0], (64, 64))
    _check_contract(out[3], (48, 80))
    assert out[3].pred_slot_sem_seg.data.shape == (1, 48, 80)


def test_teacher_forced_rej_reruns_as_seg_for_the_record():
    model = _model().eval()
    data = _data(model, False)
    with torch.no_grad(), _force(model, '[REJ]'), _count_decoded(
        model
    ) as calls:
        out = model(**data, mode='predict')
    # every slot is decoded for the record, all four
    assert calls == [[0, 0, 0, 1]]
    for s in out:
        assert s.pred_no_target and s.pred_nt_score > 0.99
        assert not s.pred_sem_seg.data.any() and len(s.pred_instances) == 0
    assert out[0].metainfo['pred_answer'] == (
        'Sure, a cat:[REJ], the red circle:[REJ], the big blue square:[REJ].'
    )
    # the record of sample 0 (a ground-truth [REJ]) is the mask its state
    # gives once the dialogue's [REJ] is rewritten [SEG]
    for s in data['data_samples']:
        s.set_metainfo(dict(no_target=False))
    with torch.no_grad():
        rerun = model(**data, mode='tensor')['mask_logits'][0]
    feats = model.mask_head.encode_images(data['inputs'][:1], [(64, 64)])
    ref = (
        model.mask_head.segmentor.postprocess(
            rerun[None], feats['input_sizes'][0], (64, 64)
        )[0]
        > 0
    )
    assert torch.equal(out[0].pred_slot_sem_seg.data[0], ref)

    data = _data(model, False)
    with torch.no_grad(), _force(model, '[SEG]'):
        out = model(**data, mode='predict')
    assert not any(s.pred_no_target for s in out)
    assert out[0].metainfo['pred_answer'] == (
        'Sure, a cat:[SEG], the red circle:[SEG], the big blue square:[SEG].'
    )
    for s in out:
        assert torch.equal(s.pred_sem_seg.data, s.pred_slot_sem_seg.data)
        assert len(s.pred_instances) == int(s.pred_sem_seg.data.any())


def test_teacher_forced_needs_ground_truth():
    model = _model().eval()
    data = _data(model, False)
    s = data['data_samples'][0]
    del s.gt_sem_seg
    del s.gt_instances
    del s.no_target  # a metainfo field
    assert 'no_target' not in s.metainfo
    with pytest.raises(ValueError, match='ground truth'):
        model(**data, mode='predict')


def _teacher_answer_generate(model):
    """A stand-in for ``generate`` that writes the ground-truth answer."""

    def fake(input_ids, attention_mask, pixel_values, max_new_tokens, **kw):
        rows = []
        conv, tok = model.conversation, model.mllm.tokenizer
        for b in range(len(input_ids)):
            prompt = input_ids[b]
            exprs = fake.dialogues[b]
            full = conv.encode(
                tok,
                [e for e, _ in exprs],
                [n for _, n in exprs],
                num_image_tokens=model.mllm.num_image_tokens,
            )
            rows.append(
                torch.cat([prompt, full['input_ids'][full['prompt_length'] :]])
            )
        n = max(len(r) for r in rows)
        return torch.stack(
            [
                F.pad(r, (0, n - len(r)), value=model.mllm.pad_token_id)
                for r in rows
            ]
        )

    return fake


def test_generate_mode_parses_slots_and_matches_teacher_forcing():
    model = _model(test_cfg=dict(mode='generate'))
    model.eval()
    data = _data(model, False)
    samples = data['data_samples']
    for s in samples:  # all present: both modes read the same sequence
        s.set_metainfo(dict(no_target=False))
    texts = model.get_texts(samples)
    fake = _teacher_answer_generate(model)
    fake.dialogues = [
        [(texts[i], False) for i in (0, 1, 2)],
        [(texts[3], False)],
    ]
    model.mllm.generate = fake
    with torch.no_grad():
        gen = model(**data, mode='predict')
        gen = [
            (
                s.pred_sem_seg.data.clone(),
                s.pred_no_target,
                s.metainfo['pred_answer'],
            )
            for s in gen
        ]
        model.test_cfg['mode'] = 'teacher_forced'
        # decided [SEG] as written; the logits do not change the states
        with _force(model, '[SEG]'):
            tf = model(**_data(model, False, _all_present()), mode='predict')
    for (mask, nt, _), s in zip(gen, tf):
        assert torch.equal(mask, s.pred_sem_seg.data)
        assert nt == s.pred_no_target
    assert gen[3][2].replace(' ', '') == 'sure,adog:[SEG].'

    # a written [REJ] rejects its expression; missing slots reject too
    model.test_cfg['mode'] = 'generate'
    fake.dialogues = [
        [(texts[0], True), (texts[1], False), (texts[2], True)],
        [(texts[3], True)],
    ]
    with torch.no_grad(), _count_decoded(model) as calls:
        out = model(**_data(model, False), mode='predict')
    assert [s.pred_no_target for s in out] == [True, False, True, True]
    assert calls == [[0]]  # only the [SEG] is decoded
    assert out[1].metainfo['pred_answer'].replace(' ', '') == (
        'sure,acat:[REJ],theredcircle:[SEG],thebigbluesquare:[REJ].'
    )


def _all_present():
    inputs, samples = same_image_batch()
    for s in samples:
        s.set_metainfo(dict(no_target=False))
    return inputs, samples


def test_generate_mode_with_the_real_generate():
    model = _model(test_cfg=dict(mode='generate')).eval()
    data = _data(model, False)
    # at most the longest all-[SEG] answer plus 8 tokens: "sure , a cat :
    # [SEG] , the red circle : [SEG] , the big blue square : [SEG] . </s>"
    _, dialogues = model.group_dialogues(data['inputs'], data['data_samples'])
    assert model._max_new_tokens(data['data_samples'], dialogues) == 21 + 8
    with torch.no_grad(), _force(model, '[SEG]'):
        out = model(**data, mode='predict')
    # the model writes "[SEG] [SEG] ...": slot k is the k-th [SEG]
    for s in out:
        _check_contract(s, (64, 64))
        assert not s.pred_no_target
        assert s.metainfo['pred_answer'].split() == ['[SEG]'] * 29
        assert 'pred_slot_sem_seg' not in s
    with torch.no_grad(), _force(model, '</s>'):
        out = model(**data, mode='predict')
    # nothing written: every expression is rejected
    assert all(s.pred_no_target and s.pred_nt_score == 1.0 for s in out)
    assert all(s.metainfo['pred_answer'] == '' for s in out)


def test_no_rej_ablation():
    model = _model(
        conversation=dict(type='GSVAConversationBuilder', use_rej=False),
        test_cfg=dict(mode='teacher_forced', min_mask_area=50),
    )
    data = _data(model, True)
    with _count_decoded(model) as calls:
        model(**data, mode='loss')
    assert calls == [[0, 0, 0, 1]]  # absent targets are trained to empty
    model.eval()
    with torch.no_grad():
        out = model(**_data(model, False), mode='predict')
    for s in out:
        area = int(s.pred_slot_sem_seg.data.sum())
        assert s.pred_no_target == (area < 50)
        assert '[REJ]' not in s.metainfo['pred_answer']


def test_invalid_mode():
    with pytest.raises(ValueError, match='test_cfg.mode'):
        _model(test_cfg=dict(mode='beam'))


def test_slot_states_read_the_state_before_each_token():
    """Paper Eq. 4: ψ reads the output embedding that predicts [SEG], the
    last layer's state one position before the slot's token."""
    hidden = torch.arange(20.0).view(10, 2)
    got = _model().slot_states(hidden, 3, torch.tensor([5, 8]))
    torch.testing.assert_close(got, hidden[[4, 7]])


def test_one_pass_gives_typed_slots():
    """The teacher-forced pass of the hand batch: dialogue 0 asks about
    samples 0, 1, 2 (image 0; sample 0 absent), dialogue 1 about sample 3."""
    model = _model().eval()
    data = _data(model, False)
    samples = data['data_samples']
    no_target = [s.metainfo['no_target'] for s in samples]
    with torch.no_grad():
        run = model.teacher_forced_pass(
            data['inputs'], samples, no_target, train=False
        )
    slots = run.slots
    assert isinstance(slots, SegSlots) and len(slots) == 4
    assert slots.sample.tolist() == [0, 1, 2, 3]
    assert slots.image.tolist() == [0, 0, 0, 1]
    assert slots.dialogue.tolist() == [0, 0, 0, 1]
    assert slots.expression.tolist() == [0, 1, 2, 0]
    assert slots.is_seg.tolist() == [False, True, True, True]
    assert slots.states.shape == (4, 32)
    assert slots.logits.shape == (4, len(model.mllm.tokenizer))
    # states and logits are read one position before each slot's token
    pos = run.batch['slot_positions'][0]
    torch.testing.assert_close(
        slots.states[:3], run.out['hidden_states'][0, pos - 1]
    )
    torch.testing.assert_close(slots.logits[:3], run.out['logits'][0, pos - 1])
    seg = slots[slots.is_seg]
    assert seg.sample.tolist() == [1, 2, 3] and seg.states.shape == (3, 32)


def test_k_defaults_to_the_papers_five():
    """Paper appendix E (Fig. 8): 5 [SEG] tokens per dialogue by default,
    so five expressions of one image share one dialogue."""
    model = MODELS.build(
        tiny_gsva_cfg(conversation=dict(type='GSVAConversationBuilder'))
    )
    assert model.conversation.max_expressions == 5
    inputs, samples = demo_grounding_inputs(batch_size=6, image_shape=(32, 32))
    inputs[:] = inputs[0]
    _, dialogues = model.group_dialogues(inputs, samples)
    assert dialogues == [
        Dialogue(image=0, samples=[0, 1, 2, 3, 4]),
        Dialogue(image=0, samples=[5]),
    ]
