"""The GSVA release's test dialogue, the Llama-2 chat format and the
legacy LLaMA tokenization, against hand-written strings and tokens."""

import string

import pytest
import torch
from tokenizers import AddedToken

from mmgres.models.utils.conversation import (
    LLAVA_LLAMA_2_SYSTEM,
    RELEASE_TEST_QUESTION,
    VICUNA_V1_SYSTEM,
    GSVAConversationBuilder,
)
from mmgres.registry import MODELS

from ..gsva_utils import tiny_mllm_cfg

RELEASE = dict(
    test_question=RELEASE_TEST_QUESTION,
    prefix_separator='',
    image_start='<im_start>',
    image_end='<im_end>',
    expression_style='release',
)


def test_release_dialogue_text_hand_written():
    b = GSVAConversationBuilder(**RELEASE)
    exprs = ['The cat.', 'a  dog']
    text = f'{b.prompt(exprs)} {b.answer(exprs, [False, True])}'
    # data/dataset.py ValDataset + conv_llava_v1 + use_mm_start_end,
    # written out by hand (the release's "</s>" is the EOS id we append)
    expect = (
        'A chat between a curious human and an artificial intelligence '
        'assistant. The assistant gives helpful, detailed, and polite '
        "answers to the human's questions. USER: "
        '<im_start><image><im_end>\n What are the cat, a  dogin this '
        'image? Please output segmentation masks. ASSISTANT: '
        'Sure,the cat:[SEG], a  dog:[REJ].'
    )
    assert text == expect
    assert b.system == VICUNA_V1_SYSTEM


def test_llama_2_dialogue_text_hand_written():
    b = GSVAConversationBuilder(style='llama_2', system=LLAVA_LLAMA_2_SYSTEM)
    exprs = ['the cat', 'a dog']
    text = f'{b.prompt(exprs)} {b.answer(exprs, [False, True])}'
    # LLaVA's conv_llava_llama_2 (SeparatorStyle.LLAMA_2) for one round
    expect = (
        '[INST] <<SYS>>\nYou are a helpful language and vision assistant. '
        'You are able to understand the visual content that the user '
        'provides, and assist the user with a variety of tasks using '
        'natural language.\n<</SYS>>\n\n<image>\nWhat are the cat, a dog '
        'in this image? Please output segmentation masks. [/INST] '
        'Sure, the cat:[SEG], a dog:[REJ].'
    )
    assert text == expect


def test_bad_options():
    with pytest.raises(ValueError, match='style'):
        GSVAConversationBuilder(style='chatml')
    with pytest.raises(ValueError, match='expression_style'):
        GSVAConversationBuilder(expression_style='lower')


def _char_llama_tokenizer(legacy):
    """A LLaMA tokenizer (transformers' own class) over single characters,
    with the release's added tokens."""
    from transformers import LlamaTokenizer

    vocab = {'<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3, '<0x0A>': 4}
    for c in sorted(set(string.ascii_letters + string.punctuation + '12')):
        vocab.setdefault(c, len(vocab))
    tok = LlamaTokenizer(vocab=vocab, merges=[], legacy=legacy)
    tok.add_tokens(['[SEG]', '[REJ]'])
    tok.add_tokens(
        [
            AddedToken(t, normalized=False, special=True)
            for t in ('<image>', '<im_start>', '<im_end>')
        ],
        special_tokens=True,
    )
    return tok


def test_legacy_tokenization_after_added_tokens():
    # the slow LLaMA tokenizer of the release gives every piece between
    # added tokens sentencepiece's leading '▁'; legacy=False does not
    text = 'Sure,e1:[SEG], e2:[REJ].'
    head = ['▁', 'S', 'u', 'r', 'e', ',', 'e', '1', ':', '[SEG]']
    legacy = _char_llama_tokenizer(True).tokenize(text)
    assert legacy == head + ['▁', ',', '▁', 'e', '2', ':', '[REJ]', '▁', '.']
    modern = _char_llama_tokenizer(False).tokenize(text)
    assert modern == head + [',', '▁', 'e', '2', ':', '[REJ]', '.']


def test_release_encode_with_legacy_llama_tokenizer():
    tok = _char_llama_tokenizer(True)
    b = GSVAConversationBuilder(system='S', **RELEASE)
    enc = b.encode(tok, ['e1', 'e2'], [False, True], num_image_tokens=2)
    toks = tok.convert_ids_to_tokens(enc['input_ids'].tolist())
    # BOS, 'S USER: ' then the wrapped image (2 tokens), '\n What...'
    assert toks[:10] == ['<s>', '▁', 'S', '▁', 'U', 'S', 'E', 'R', ':', '▁']
    k = toks.index('<im_start>')
    assert k == 10
    assert toks[k : k + 6] == [
        '<im_start>',
        '<image>',
        '<image>',
        '<im_end>',
        '▁',
        '<0x0A>',
    ]
    answer = toks[enc['prompt_length'] :]
    assert answer == [
        '▁', 'S', 'u', 'r', 'e', ',', 'e', '1', ':', '[SEG]',
        '▁', ',', '▁', 'e', '2', ':', '[REJ]', '▁', '.', '</s>',
    ]  # fmt: skip
    assert enc['slot_is_seg'].tolist() == [True, False]
    assert (enc['labels'][: enc['prompt_length']] == -100).all()


def test_mllm_adds_im_start_end_after_seg_rej():
    torch.manual_seed(0)
    mllm = MODELS.build(tiny_mllm_cfg(image_start_end=True))
    ids = [mllm.token_id(t) for t in ('[SEG]', '[REJ]')]
    ids += [mllm.token_id(t) for t in ('<im_start>', '<im_end>')]
    # the release's add_task_tokens order: [SEG], [REJ], <im_start>, <im_end>
    assert ids == list(range(ids[0], ids[0] + 4))
    assert mllm.model.get_input_embeddings().num_embeddings >= len(
        mllm.tokenizer
    )
    b = GSVAConversationBuilder(**RELEASE)
    enc = b.encode(
        mllm.tokenizer,
        ['a cat'],
        [False],
        num_image_tokens=mllm.num_image_tokens,
    )
    x = enc['input_ids'].tolist()
    k = x.index(ids[2])
    n = mllm.num_image_tokens
    assert x[k + 1 : k + 1 + n] == [mllm.image_token_id] * n
    assert x[k + 1 + n] == ids[3]
    # without image_start_end the tokens are missing: a clear error
    plain = MODELS.build(tiny_mllm_cfg())
    with pytest.raises(ValueError, match='<im_start>'):
        b.encode(plain.tokenizer, ['a cat'], [False], num_image_tokens=4)
