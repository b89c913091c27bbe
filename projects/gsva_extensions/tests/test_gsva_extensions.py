"""The GSVA extensions: [REJ]-weighted LM loss, span-mean slot states and
ψ's dense SAM prompt, each against a hand-computed or reference value."""

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs, tiny_llava_cfg, tiny_sam_cfg
from mmgres.utils import register_all_modules
from projects.gsva_extensions.gsva_extensions import (
    DensePromptMaskHead,
    RejWeightedGSVA,
    SpanMeanGSVA,
)

register_all_modules(init_default_scope=False)

VOCAB = ['a', 'cat', 'dog', 'the', 'red', 'circle', 'big', 'blue', 'square']
SAM = dict(type='HFSamSegmentor', model_cfg=tiny_sam_cfg(), pretrained=False)


def _build(cfg):
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(cfg)


def _gsva(type='GSVA', head='GSVAMaskHead', **kwargs):
    return _build(
        dict(
            type=type,
            data_preprocessor=dict(
                type='DetDataPreprocessor',
                mean=None,
                std=None,
                bgr_to_rgb=True,
                pad_size_divisor=1,
            ),
            mllm=dict(
                type='LlavaMLLM',
                model_cfg=tiny_llava_cfg(),
                pretrained=False,
                tokenizer=dict(type='WordLevelTokenizer', words=VOCAB),
                lora_cfg=dict(
                    r=4,
                    lora_alpha=8,
                    lora_dropout=0.0,
                    target_modules=['q_proj', 'v_proj'],
                ),
            ),
            mask_head=dict(type=head, segmentor=SAM),
            **kwargs,
        )
    )


def _batch(model, training):
    """Samples 0-2 show one image (0 is no-target), 3 another."""
    inputs, samples = demo_grounding_inputs(
        batch_size=4,
        image_shape=(64, 64),
        no_target_first=True,
        texts=('a cat', 'the red circle', 'the big blue square', 'a dog'),
    )
    inputs[1] = inputs[2] = inputs[0]
    data = dict(inputs=inputs, data_samples=samples)
    return model.data_preprocessor(data, training)


def test_registered():
    assert MODELS.get('RejWeightedGSVA') is RejWeightedGSVA
    assert MODELS.get('SpanMeanGSVA') is SpanMeanGSVA
    assert MODELS.get('DensePromptMaskHead') is DensePromptMaskHead


def test_rej_token_weight_hand_computed():
    """Each [REJ] answer token counts ``rej_token_weight`` times in the mean
    LM loss; the core GSVA takes the plain mean (paper Eq. 7)."""
    model = _gsva('RejWeightedGSVA', rej_token_weight=3.0)
    rej = model.mllm.rej_token_id
    torch.manual_seed(1)
    logits = torch.randn(1, 5, len(model.mllm.tokenizer))
    labels = torch.tensor([[-100, 7, rej, 9, -100]])
    ce = [F.cross_entropy(logits[0, t - 1], labels[0, t]) for t in (1, 2, 3)]
    expected = (ce[0] + 3.0 * ce[1] + ce[2]) / 5.0
    torch.testing.assert_close(model.lm_loss(logits, labels), expected)
    plain = _gsva()
    torch.testing.assert_close(plain.lm_loss(logits, labels), sum(ce) / 3.0)
    with pytest.raises(ValueError, match='rej_token_weight'):
        _gsva('RejWeightedGSVA', rej_token_weight=0.0)
    losses = model(**_batch(model, True), mode='loss')
    assert set(losses) == {'loss_lm', 'loss_mask', 'loss_dice'}


def test_span_mean_hand_example():
    hidden = torch.arange(20.0).view(10, 2)
    span = _gsva('SpanMeanGSVA')
    # answer from position 3; slots at 5 and 8
    got = span.slot_states(hidden, 3, torch.tensor([5, 8]))
    want = torch.stack([hidden[3:5].mean(0), hidden[6:8].mean(0)])
    torch.testing.assert_close(got, want)
    # a slot right after the previous one has only its own last state
    got = span.slot_states(hidden, 3, torch.tensor([5, 6]))
    torch.testing.assert_close(got[1], hidden[5])
    assert span.slot_states(hidden, 3, torch.tensor([])).shape == (0, 2)


def test_span_mean_states_reach_the_mask_head():
    token = _gsva().eval()
    span = _gsva('SpanMeanGSVA').eval()
    data = _batch(token, False)
    with torch.no_grad():
        a = token(**data, mode='tensor')
        b = span(**data, mode='tensor')
    # same weights, same LLM pass: only what ψ reads differs
    torch.testing.assert_close(a['hidden_states'], b['hidden_states'])
    assert a['mask_logits'].shape == b['mask_logits'].shape
    assert not torch.allclose(a['mask_logits'], b['mask_logits'])
    span.train()
    losses = span(**_batch(span, True), mode='loss')
    sum(losses.values()).backward()
    grads = [
        p.grad
        for n, p in span.mllm.named_parameters()
        if 'layers.0.' in n and p.requires_grad
    ]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_dense_prompt_shifts_sams_no_mask_embedding():
    """Reference equivalence: ψ's dense half d decodes as SamModel does with
    its "no mask" dense embedding shifted by d, each mask with its own; the
    sparse half is SAM's one prompt token."""
    head = _build(
        dict(type='DensePromptMaskHead', segmentor=SAM, in_channels=48)
    )
    assert head.proj.layers[-1].out_features == 2 * 32  # sparse + dense
    sam = head.segmentor.eval()
    feats = head.encode_images(torch.rand(1, 3, 64, 64) * 255, [(64, 64)])
    emb = feats['embeddings']
    prompts = torch.randn(2, 64)
    no_mask = sam.model.prompt_encoder.no_mask_embed.weight
    with torch.no_grad():
        ours = head.decode(emb[0], prompts)
        refs = []
        for k in range(2):
            saved = no_mask.clone()
            no_mask += prompts[k, 32:]
            refs.append(
                sam.model.mask_decoder(
                    image_embeddings=emb,
                    image_positional_embeddings=(
                        sam.model.get_image_wide_positional_embeddings()
                    ),
                    sparse_prompt_embeddings=prompts[k, None, None, None, :32],
                    dense_prompt_embeddings=(
                        sam.model.prompt_encoder.no_mask_embed.weight.reshape(
                            1, -1, 1, 1
                        ).expand(1, -1, 8, 8)
                    ),
                    multimask_output=False,
                )[0][0, 0, 0]
            )
            no_mask.copy_(saved)
        # a zero dense half is the core head's plain sparse prompt
        zero = torch.cat([prompts[:, :32], torch.zeros(2, 32)], 1)
        plain = sam.decode(emb[0], prompts[:, :32])
        torch.testing.assert_close(head.decode(emb[0], zero), plain)
    torch.testing.assert_close(ours, torch.stack(refs))
    assert not torch.allclose(ours, plain)
    states = torch.randn(3, 48)
    gts = [torch.ones(64, 64, dtype=torch.bool)] * 3
    index = torch.tensor([0, 0, 0])
    sum(head.loss(states, index, feats, gts).values()).backward()
    assert head.proj.layers[-1].weight.grad[-32:].abs().sum() > 0
