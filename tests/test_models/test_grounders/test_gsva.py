import contextlib

import pytest
import torch
import torch.nn.functional as F

from mmgres.registry import MODELS

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
        dict(image=0, samples=[0, 1]),
        dict(image=0, samples=[3]),
        dict(image=1, samples=[2]),
    ]
    # a flipped copy of an image is another image
    samples[1].set_metainfo(dict(flip=True))
    samples[0].set_metainfo(dict(flip=False))
    samples[3].set_metainfo(dict(flip=False))
    images, dialogues = model.group_dialogues(inputs, samples, 3)
    assert images == [0, 1, 2]
    assert dialogues[0] == dict(image=0, samples=[0, 3])
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
        texts = model.get_texts(samples)
        _, dialogues = model.group_dialogues(data['inputs'], samples)
        encs = model._encode_dialogues(
            texts,
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


def test_rej_token_weight_hand_computed():
    """``rej_token_weight`` weighs the [REJ] answer tokens in the LM mean."""
    model = _model(rej_token_weight=3.0)
    rej = model.mllm.rej_token_id
    torch.manual_seed(1)
    logits = torch.randn(1, 5, len(model.mllm.tokenizer))
    labels = torch.tensor([[-100, 7, rej, 9, -100]])
    ce = [F.cross_entropy(logits[0, t - 1], labels[0, t]) for t in (1, 2, 3)]
    expected = (ce[0] + 3.0 * ce[1] + ce[2]) / 5.0
    torch.testing.assert_close(model.lm_loss(logits, labels), expected)
    plain = _model()
    torch.testing.assert_close(plain.lm_loss(logits, labels), sum(ce) / 3.0)
    with pytest.raises(ValueError, match='rej_token_weight'):
        _model(rej_token_weight=0.0)


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


@pytest.mark.parametrize('slot_state', ['token', 'span_mean'])
def test_generate_mode_parses_slots_and_matches_teacher_forcing(slot_state):
    model = _model(test_cfg=dict(mode='generate'), slot_state=slot_state)
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
    model = _model(test_cfg=dict(mode='generate', max_new_tokens=6)).eval()
    data = _data(model, False)
    with torch.no_grad(), _force(model, '[SEG]'):
        out = model(**data, mode='predict')
    # the model writes "[SEG] [SEG] ...": slot k is the k-th [SEG]
    for s in out:
        _check_contract(s, (64, 64))
        assert not s.pred_no_target
        assert s.metainfo['pred_answer'].split() == ['[SEG]'] * 6
        assert 'pred_slot_sem_seg' not in s
    with torch.no_grad(), _force(model, '</s>'):
        out = model(**data, mode='predict')
    # nothing written: every expression is rejected
    assert all(s.pred_no_target and s.pred_nt_score == 1.0 for s in out)
    assert all(s.metainfo['pred_answer'] == '' for s in out)
    # auto length: the longest all-[SEG] answer plus 8
    model.test_cfg['max_new_tokens'] = None
    texts = model.get_texts(data['data_samples'])
    _, dialogues = model.group_dialogues(data['inputs'], data['data_samples'])
    assert model._max_new_tokens(texts, dialogues) == 21 + 8


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
    with pytest.raises(ValueError, match='slot_state'):
        _model(slot_state='last')


def test_slot_states_hand_example():
    hidden = torch.arange(20.0).view(10, 2)
    token = _model()
    span = _model(slot_state='span_mean')
    # answer from position 3; slots at 5 and 8
    got = token._slot_states(hidden, 3, [5, 8])
    torch.testing.assert_close(torch.stack(got), hidden[[4, 7]])
    got = span._slot_states(hidden, 3, torch.tensor([5, 8]))
    want = torch.stack([hidden[3:5].mean(0), hidden[6:8].mean(0)])
    torch.testing.assert_close(torch.stack(got), want)
    # a slot right after the previous one has only its own last state
    got = span._slot_states(hidden, 3, [5, 6])
    torch.testing.assert_close(got[1], hidden[5])


def test_span_mean_states_reach_the_mask_head():
    token = _model().eval()
    span = _model(slot_state='span_mean').eval()
    data = _data(token, False, _all_present())
    with torch.no_grad():
        a = token(**data, mode='tensor')
        b = span(**data, mode='tensor')
    # same weights, same LLM pass: only what ψ reads differs
    torch.testing.assert_close(a['hidden_states'], b['hidden_states'])
    assert a['mask_logits'].shape == b['mask_logits'].shape
    assert not torch.allclose(a['mask_logits'], b['mask_logits'])
    losses = span(**_data(span, True), mode='loss')
    sum(losses.values()).backward()
    grads = [
        p.grad
        for n, p in span.mllm.named_parameters()
        if 'layers.0.' in n and p.requires_grad
    ]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
