import re

import pytest
import torch

from mmgres.models.mllm import KNOWN_LLAVA_ARCHS, LlavaMLLM
from mmgres.models.tokenizers import split_words
from mmgres.models.utils import GSVAConversationBuilder
from mmgres.registry import MODELS
from mmgres.testing import tiny_llava_cfg

VOCAB = ['the', 'red', 'circle', 'a', 'cat']
WORDS = dict(type='WordLevelTokenizer', words=VOCAB)
LORA = dict(
    r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'v_proj']
)


@pytest.fixture(scope='module')
def mllm():
    torch.manual_seed(0)
    return LlavaMLLM(
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=WORDS,
        lora_cfg=LORA,
    )


def test_registered():
    assert MODELS.get('LlavaMLLM') is LlavaMLLM


def test_special_tokens_added_and_embeddings_resized(mllm):
    tok = mllm.tokenizer
    for t in ('[SEG]', '[REJ]', '<image>'):
        ids = tok(t, add_special_tokens=False)['input_ids']
        assert len(ids) == 1 and ids[0] != tok.unk_token_id, t
    assert (
        len({mllm.seg_token_id, mllm.rej_token_id, mllm.image_token_id}) == 3
    )
    n = len(tok)
    assert tiny_llava_cfg()['text_config']['vocab_size'] < n
    assert mllm.model.get_input_embeddings().weight.shape == (n, 32)
    assert mllm.model.lm_head.weight.shape == (n, 32)
    assert mllm.model.config.image_token_id == mllm.image_token_id
    assert tok.pad_token == tok.unk_token  # GSVA pads with <unk>
    # random new rows differ (no degenerate mean init on random weights)
    w = mllm.model.lm_head.weight
    assert not torch.equal(w[mllm.seg_token_id], w[mllm.rej_token_id])
    # 32 / 8 = 4 patches a side, CLS dropped ('default' strategy)
    assert mllm.num_image_tokens == 16


def test_lora_only_on_language_model_q_v(mllm):
    lora_layers = {
        n.rsplit('.lora_A', 1)[0]
        for n, _ in mllm.model.named_parameters()
        if '.lora_A.' in n
    }
    expected = {
        f'model.language_model.layers.{i}.self_attn.{p}'
        for i in range(2)
        for p in ('q_proj', 'v_proj')
    }
    assert lora_layers == expected
    assert not any(
        'vision_tower' in n and 'lora' in n for n, _ in mllm.named_parameters()
    )
    a = mllm.model.model.language_model.layers[0].self_attn.q_proj.lora_A
    assert a['default'].weight.shape == (4, 32)  # rank 4


def test_trainable_parameter_set(mllm):
    trainable = {
        n for n, p in mllm.model.named_parameters() if p.requires_grad
    }
    lora = {n for n in trainable if '.lora_' in n}
    assert len(lora) == 2 * 2 * 2  # layers x (q, v) x (A, B)
    assert trainable - lora == {
        'lm_head.weight',
        'model.language_model.embed_tokens.weight',
    }
    n = len(mllm.tokenizer)
    count = sum(p.numel() for p in mllm.parameters() if p.requires_grad)
    # LoRA: 2 layers x 2 projections x (A: 4x32 + B: 32x4)
    assert count == 2 * 2 * (4 * 32 + 32 * 4) + 2 * n * 32


def test_without_lora_only_embeddings_and_head_train():
    m = LlavaMLLM(
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=WORDS,
        lora_cfg=None,
    )
    names = {n for n, p in m.model.named_parameters() if p.requires_grad}
    assert names == {
        'lm_head.weight',
        'model.language_model.embed_tokens.weight',
    }


def test_init_weights_keeps_hf_weights(mllm):
    before = {k: v.clone() for k, v in mllm.state_dict().items()}
    mllm.init_weights()
    after = mllm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_clip_preprocessing_hand_values(mllm):
    from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    mean = torch.tensor(OPENAI_CLIP_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(OPENAI_CLIP_STD).view(3, 1, 1) * 255
    img = torch.zeros(1, 3, 64, 64)
    img[0, :, :48, :32] = mean  # content (48, 32), rest is padding
    img[0, :, :, 32:] = 255.0  # padding that must be cropped away
    out = mllm.preprocess_images(img, [(48, 32)])
    assert out.shape == (1, 3, 32, 32)
    torch.testing.assert_close(out, torch.zeros_like(out), atol=1e-4, rtol=0)
    # centre crop: a short side of 32 -> 48x32 content is resized to 48x32
    # and its rows 8..40 are kept
    img = torch.zeros(1, 3, 48, 32)
    img[0, :, :8] = 255.0
    img[0, :, 40:] = 255.0
    out = mllm.preprocess_images(img, [(48, 32)])
    torch.testing.assert_close(out[0], ((0 - mean) / std).expand(3, 32, 32))
    mllm.clip_resize = 'squash'
    try:
        out = mllm.preprocess_images(img, [(48, 32)])
        assert out[0, 0, 0, 16] > 0 and out[0, 0, 16, 16] < 0
    finally:
        mllm.clip_resize = 'center_crop'


def _batch(mllm, side):
    b = GSVAConversationBuilder()
    encs = [
        b.encode(
            mllm.tokenizer,
            ['a cat'],
            [True],
            num_image_tokens=mllm.num_image_tokens,
        ),
        b.encode(
            mllm.tokenizer,
            ['the red circle', 'a cat'],
            [False, True],
            num_image_tokens=mllm.num_image_tokens,
        ),
    ]
    return encs, b.collate(encs, mllm.pad_token_id, side)


def test_forward_padding_invariant(mllm):
    """Left or right padding, the hidden states of real tokens equal those
    of the unpadded dialogue (positions count real tokens)."""
    torch.manual_seed(1)
    pix = mllm.preprocess_images(
        torch.rand(2, 3, 40, 40) * 255, [(40, 40)] * 2
    )
    encs, right = _batch(mllm, 'right')
    _, left = _batch(mllm, 'left')
    with torch.no_grad():
        r = mllm(right['input_ids'], right['attention_mask'], pix)
        lft = mllm(left['input_ids'], left['attention_mask'], pix)
        alone = mllm(
            encs[0]['input_ids'][None],
            torch.ones(1, len(encs[0]['input_ids']), dtype=torch.long),
            pix[:1],
        )
    n = len(encs[0]['input_ids'])
    length = right['input_ids'].shape[1]
    assert r['logits'].shape == (2, length, len(mllm.tokenizer))
    assert r['hidden_states'].shape == (2, length, 32)
    torch.testing.assert_close(
        r['hidden_states'][0, :n],
        alone['hidden_states'][0],
        atol=1e-5,
        rtol=1e-4,
    )
    torch.testing.assert_close(
        lft['hidden_states'][0, length - n :],
        alone['hidden_states'][0],
        atol=1e-5,
        rtol=1e-4,
    )


def test_generate_and_decode(mllm):
    b = GSVAConversationBuilder()
    p = b.encode(
        mllm.tokenizer,
        ['a cat'],
        with_answer=False,
        num_image_tokens=mllm.num_image_tokens,
    )
    batch = b.collate([p], mllm.pad_token_id, 'left')
    pix = mllm.preprocess_images(torch.rand(1, 3, 32, 32) * 255, [(32, 32)])
    seqs = mllm.generate(batch['input_ids'], batch['attention_mask'], pix, 4)
    assert (
        seqs.shape[0] == 1 and seqs.shape[1] <= batch['input_ids'].shape[1] + 4
    )
    assert torch.equal(seqs[0, : p['prompt_length']], p['input_ids'])
    tok = mllm.tokenizer
    ids = tok('sure , a cat : [SEG] .', add_special_tokens=False)['input_ids']
    text = mllm.decode([*ids, tok.eos_token_id, tok.pad_token_id])
    assert text.replace(' ', '') == 'sure,acat:[SEG].'


def test_known_archs_and_errors():
    assert set(KNOWN_LLAVA_ARCHS) >= {
        'llava-v1-vicuna-7b',
        'llava-v1-vicuna-13b',
        'llava-v1-llama-2-13b',
    }
    cfg = KNOWN_LLAVA_ARCHS['llava-v1-vicuna-7b']
    assert cfg['vision_config']['image_size'] == 224
    assert cfg['image_seq_length'] == (224 // 14) ** 2
    with pytest.raises(ValueError, match='no architecture is known'):
        LlavaMLLM('not-a-model', pretrained=False, tokenizer=WORDS)
    with pytest.raises(ValueError, match='pretrained=True needs'):
        LlavaMLLM(model_cfg=tiny_llava_cfg(), tokenizer=WORDS)


def test_synthetic_vocab_covers_the_benchmark_sentences():
    from mmgres.datasets.synthetic import SYNTHETIC_VOCAB

    m = LlavaMLLM(
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=dict(type='SyntheticWordLevelTokenizer'),
        lora_cfg=None,
    )
    text = ' '.join(SYNTHETIC_VOCAB[:20])
    ids = m.tokenizer(text, add_special_tokens=False)['input_ids']
    assert m.tokenizer.unk_token_id not in ids
    assert re.fullmatch(
        r'\[SEG\]', m.tokenizer.convert_ids_to_tokens(m.seg_token_id)
    )


def test_projector_is_llava_v1s_one_linear(mllm):
    """Paper Sec. 3.1 / Eq. 1: the MLLM maps CLIP features to the LLM with a
    linear projector φ (LLaVA v1's ``mm_projector``, one nn.Linear)."""
    proj = mllm.model.model.multi_modal_projector
    assert type(proj) is torch.nn.Linear
    assert (proj.in_features, proj.out_features) == (32, 32)
    keys = {k for k in mllm.state_dict() if '.multi_modal_projector.' in k}
    assert keys == {
        'model.model.multi_modal_projector.weight',
        'model.model.multi_modal_projector.bias',
    }
    assert not proj.weight.requires_grad  # frozen, as in the paper
    pix = mllm.preprocess_images(torch.rand(1, 3, 32, 32) * 255, [(32, 32)])
    with torch.no_grad():
        tower = mllm.model.model.vision_tower(pix, output_hidden_states=True)
        feats = tower.hidden_states[-2][:, 1:]  # layer -2, CLS dropped
        # transformers 5: the projected features, one (16, 32) per image
        got = mllm.model.model.get_image_features(pixel_values=pix)
    torch.testing.assert_close(got.pooler_output[0], proj(feats)[0])
    two = LlavaMLLM(
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=WORDS,
        lora_cfg=None,
        projector='mlp2x_gelu',
    )
    hf = two.model.model.multi_modal_projector
    assert type(hf).__name__ == 'LlavaMultiModalProjector'
    with pytest.raises(ValueError, match='projector must be one of'):
        LlavaMLLM(
            model_cfg=tiny_llava_cfg(),
            pretrained=False,
            tokenizer=WORDS,
            projector='mlp',
        )


def _save_hf_llava(path, act, identity):
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(3)
    cfg = dict(tiny_llava_cfg(), projector_hidden_act=act)
    cfg['image_token_index'] = 3
    hf = LlavaForConditionalGeneration(LlavaConfig(**cfg))
    second = hf.model.multi_modal_projector.linear_2
    if identity:
        with torch.no_grad():
            second.weight.copy_(torch.eye(32))
            second.bias.zero_()
    hf.save_pretrained(path)
    return hf.model.multi_modal_projector.linear_1


def test_pretrained_v1_projector_loads_exactly(tmp_path):
    """A v1 LLaVA as llava2hf.py writes it for HF (act 'linear', linear_2
    the identity) loads as the one Linear, bit for bit; a two-layer MLP
    cannot be one Linear and is refused."""
    first = _save_hf_llava(tmp_path / 'v1', 'linear', identity=True)
    m = LlavaMLLM(name_or_path=str(tmp_path / 'v1'), tokenizer=WORDS)
    proj = m.model.model.multi_modal_projector
    assert type(proj) is torch.nn.Linear
    assert torch.equal(proj.weight, first.weight)
    assert torch.equal(proj.bias, first.bias)
    _save_hf_llava(tmp_path / 'mlp', 'gelu', identity=False)
    with pytest.raises(ValueError, match="projector='mlp2x_gelu'"):
        LlavaMLLM(name_or_path=str(tmp_path / 'mlp'), tokenizer=WORDS)
    m = LlavaMLLM(
        name_or_path=str(tmp_path / 'mlp'),
        tokenizer=WORDS,
        projector='mlp2x_gelu',
    )
    assert hasattr(m.model.model.multi_modal_projector, 'linear_2')


# Ids that `LlavaMLLM(vocab=...)` gave before the tokenizer became a
# TOKENIZER dict (the dialogue's words first, then the word list; then
# <image>, [SEG], [REJ]), computed with that code: the tiny configs and
# their checkpoints keep them.
ID_SENTENCES = [
    'A chat between a curious human and an artificial intelligence assistant.',
    'USER: <image>\nPlease segment the two blue squares, the leftmost '
    'circle in this image.',
    'ASSISTANT: Sure, the two blue squares:[SEG], the leftmost '
    'circle:[REJ].</s>',
    'the big red diamond between the green objects',
    'a purple cat on the left',
]
IDS_BEFORE = {
    'SyntheticWordLevelTokenizer': (
        (96, 0, 94, 95, 93),  # len, <pad>, [SEG], [REJ], <image>
        [
            [3, 4, 5, 3, 6, 7, 8, 9, 10, 11, 12, 13],
            [25, 50, 93, 36, 28, 14, 88, 73, 79, 17, 14, 61, 76, 32, 33, 34]
            + [13],
            [12, 50, 48, 17, 14, 88, 73, 79, 50, 94, 17, 14, 61, 76, 50, 95]
            + [13, 2],
            [14, 70, 71, 82, 5, 14, 72, 87],
            [3, 75, 0, 54, 14, 57],
        ],
    ),
    'WordLevelTokenizer': (
        (58, 0, 56, 57, 55),
        [
            [3, 4, 5, 3, 6, 7, 8, 9, 10, 11, 12, 13],
            [25, 50, 55, 36, 28, 14, 0, 0, 0, 17, 14, 0, 53, 32, 33, 34, 13],
            [12, 50, 48, 17, 14, 0, 0, 0, 50, 56, 17, 14, 0, 53, 50, 57, 13]
            + [2],
            [14, 0, 52, 0, 5, 14, 0, 0],
            [3, 0, 54, 0, 14, 0],
        ],
    ),
}


@pytest.mark.parametrize('name', sorted(IDS_BEFORE))
def test_word_level_tokenizer_keeps_its_ids(name):
    tokenizer = WORDS if name == 'WordLevelTokenizer' else dict(type=name)
    m = LlavaMLLM(
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=tokenizer,
        lora_cfg=None,
    )
    tok = m.tokenizer
    specials, ids = IDS_BEFORE[name]
    # the pre-training mixture's template words come after every token
    # that was there before: those keep their ids, the tokenizer grows
    before = specials[0]
    extra = {w for w, i in tok.get_vocab().items() if i >= before}
    assert len(extra) == len(tok) - before > 0
    assert extra <= {
        w
        for t in GSVAConversationBuilder.mixture_words()
        for w in split_words(t)
    }
    assert (
        m.pad_token_id,
        m.seg_token_id,
        m.rej_token_id,
        m.image_token_id,
    ) == specials[1:]
    assert [tok(t)['input_ids'] for t in ID_SENTENCES] == ids
    assert m.tokenizer_cfg == tokenizer  # kept as given


def test_tokenizer_config_and_files_keep_their_ids(tmp_path):
    from mmgres.registry import TOKENIZER

    # a word-level tokenizer saved to files, loaded by the default
    # AutoTokenizer of name_or_path: its ids are kept (no dialogue words
    # put first)
    saved = TOKENIZER.build(WORDS)
    saved.save_pretrained(tmp_path)
    m = LlavaMLLM(
        name_or_path=str(tmp_path),
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        lora_cfg=None,
    )
    assert m.tokenizer_cfg == dict(
        type='AutoTokenizer', name_or_path=str(tmp_path), use_fast=True
    )
    vocab = m.tokenizer.get_vocab()
    assert {w: vocab[w] for w in VOCAB} == {
        'the': 3,
        'red': 4,
        'circle': 5,
        'a': 6,
        'cat': 7,
    }
    # <image>, [SEG], [REJ] appended after the 8 words
    assert (m.image_token_id, m.seg_token_id, m.rej_token_id) == (8, 9, 10)
    # an AutoTokenizer dict without a source loads name_or_path's
    cfg = LlavaMLLM._resolve_tokenizer_cfg(
        dict(type='AutoTokenizer', legacy=True), 'llava-dir'
    )
    assert cfg == dict(
        type='AutoTokenizer', legacy=True, name_or_path='llava-dir'
    )
    with pytest.raises(ValueError, match='needs name_or_path'):
        LlavaMLLM(model_cfg=tiny_llava_cfg(), pretrained=False)
    with pytest.raises(TypeError, match='TOKENIZER config dict'):
        LlavaMLLM(
            model_cfg=tiny_llava_cfg(), pretrained=False, tokenizer='dir'
        )
