"""GSVA's ReasonSeg and VQA dialogues (the pre-training mixture) against
the GSVA release's templates, LLaVA's chat format and label masking,
hand-checked with the word-level tokenizer."""

import random

import pytest
import torch
from tokenizers import AddedToken

from mmgres.models.tokenizers import build_word_tokenizer
from mmgres.models.utils.conversation import (
    IGNORE_INDEX,
    LLAVA_LLAMA_2_SYSTEM,
    VICUNA_V1_SYSTEM,
    GSVAConversationBuilder,
)
from mmgres.models.utils.conversation_templates import (
    ANSWER_LIST,
    EXPLANATORY_QUESTION_LIST,
    LONG_QUESTION_LIST,
    MIXTURE_WORDS,
    REASON_TEST_QUESTIONS,
    SHORT_QUESTION_LIST,
)

WORDS = [
    'the', 'cat', 'that', 'sleeps', 'on', 'sofa', 'because', 'it', 'is',
    'soft', 'what', 'doing', 'no', 'red', 'a', 'dog',
]  # fmt: skip
VQA = [
    {'from': 'human', 'value': 'What is the cat doing?\n<image>'},
    {'from': 'gpt', 'value': 'The cat sleeps.'},
    {'from': 'human', 'value': 'Is it red?'},
    {'from': 'gpt', 'value': 'No.'},
]


def _tokenizer(builder=None, extra=()):
    builder = builder or GSVAConversationBuilder()
    tok = build_word_tokenizer(
        [*builder.words(), *builder.mixture_words(), *WORDS, *extra]
    )
    tok.add_tokens(
        [AddedToken('<image>', normalized=False, special=True)],
        special_tokens=True,
    )
    tok.add_tokens(
        [AddedToken(t, normalized=False) for t in ('[SEG]', '[REJ]')]
    )
    return tok


def _words(tok, text):
    return tok.convert_ids_to_tokens(
        tok(text, add_special_tokens=False)['input_ids']
    )


def _labelled(tok, enc):
    ids = enc['input_ids'][enc['labels'] != IGNORE_INDEX]
    return tok.convert_ids_to_tokens(ids.tolist())


def _first_choices(monkeypatch, rand=0.5, randint=0):
    """Every random.choice takes the first template; random.random and
    random.randint give ``rand`` and ``randint``."""
    monkeypatch.setattr(random, 'choice', lambda seq: seq[0])
    monkeypatch.setattr(random, 'random', lambda: rand)
    monkeypatch.setattr(random, 'randint', lambda a, b: randint)


def test_release_templates_verbatim():
    # model/llava/constants.py of the GSVA release, without the leading
    # DEFAULT_IMAGE_TOKEN + "\n" that the first turn writes
    assert LONG_QUESTION_LIST[0] == (
        '{sent} Please respond with segmentation mask.'
    )
    assert SHORT_QUESTION_LIST[0] == (
        'Can you segment the {class_name} in this image?'
    )
    assert ANSWER_LIST == (
        'It is [SEG].',
        'Sure, [SEG].',
        'Sure, it is [SEG].',
        'Sure, the segmentation result is [SEG].',
        '[SEG].',
    )
    assert EXPLANATORY_QUESTION_LIST[2] == (
        'Please output segmentation mask and give some explaination.'
    )
    b = GSVAConversationBuilder()
    assert b.explanatory == 0.1 and b.max_length == 1024  # main.py
    # data/dataset.py ValDataset, reason_seg branch: "<image>\n {} Please
    # output segmentation mask." / "<image>\n What is {} in this image?
    # Please output segmentation mask.", answer "[SEG]"
    assert b.reason_dialogue(' The Cat ', False) == (
        ' What is The Cat in this image? Please output segmentation mask.',
        '[SEG]',
    )
    assert b.reason_dialogue('the cat that sleeps', True) == (
        ' the cat that sleeps Please output segmentation mask.',
        '[SEG]',
    )
    assert REASON_TEST_QUESTIONS['sentence'].startswith(' {sent}')


def test_reason_dialogue_labels_only_on_the_answer(monkeypatch):
    _first_choices(monkeypatch)
    b = GSVAConversationBuilder()
    tok = _tokenizer(b)
    enc = b.encode_reason(
        tok, 'the cat that sleeps', True, train=True, num_image_tokens=3
    )
    assert enc['text'] == (
        f'{VICUNA_V1_SYSTEM} USER: <image>\nthe cat that sleeps Please '
        'respond with segmentation mask. ASSISTANT: It is [SEG].'
    )
    tokens = tok.convert_ids_to_tokens(enc['input_ids'].tolist())
    prompt = (
        ['<s>']
        + _words(tok, VICUNA_V1_SYSTEM)
        + ['user', ':']
        + ['<image>'] * 3
        + 'the cat that sleeps please respond with segmentation mask . '
        'assistant :'.split()
    )
    answer = ['it', 'is', '[SEG]', '.', '</s>']
    assert tokens == prompt + answer
    assert enc['prompt_length'] == len(prompt)
    assert _labelled(tok, enc) == answer
    assert (enc['labels'][: len(prompt)] == IGNORE_INDEX).all()
    # one slot: the answer's [SEG]
    assert enc['slot_positions'].tolist() == [len(prompt) + 2]
    assert enc['slot_is_seg'].tolist() == [True]
    assert enc['truncated'] is False
    # a phrase asks a SHORT question, lower-cased
    enc = b.encode_reason(tok, 'The Cat', False, train=True)
    assert 'Can you segment the the cat in this image?' in enc['text']


def test_reason_explanation_choices(monkeypatch):
    b = GSVAConversationBuilder()
    tok = _tokenizer(b)
    why = 'because it is soft'
    # random.random() < 0.1: the explanation alone, no slot
    _first_choices(monkeypatch, rand=0.05)
    enc = b.encode_reason(tok, 'the cat', True, why, train=True)
    assert enc['text'].endswith(
        'USER: <image>\nthe cat ASSISTANT: because it is soft'
    )
    assert _labelled(tok, enc) == 'because it is soft </s>'.split()
    assert len(enc['slot_positions']) == 0
    # else randint(0, 1) == 1: [SEG] answer + explanation, explanatory
    # question
    _first_choices(monkeypatch, rand=0.5, randint=1)
    enc = b.encode_reason(tok, 'the cat', False, why, train=True)
    assert enc['text'].endswith(
        'USER: <image>\nthe cat Please output segmentation mask and explain '
        'why. ASSISTANT: It is [SEG]. because it is soft'
    )
    assert _labelled(tok, enc) == (
        'it is [SEG] . because it is soft </s>'.split()
    )
    assert len(enc['slot_positions']) == 1
    # randint(0, 1) == 0: the plain [SEG] dialogue
    _first_choices(monkeypatch, rand=0.5, randint=0)
    enc = b.encode_reason(tok, 'the cat', True, why, train=True)
    assert _labelled(tok, enc) == 'it is [SEG] . </s>'.split()
    # at test time the explanation is not read
    enc = b.encode_reason(tok, 'the cat', True, why, train=False)
    assert _labelled(tok, enc) == ['[SEG]', '</s>']


def test_reason_explanation_frequencies():
    """p = 0.1 explanation alone, else 50/50 (the release's draw)."""
    b = GSVAConversationBuilder()
    random.seed(0)
    kinds = []
    for _ in range(4000):
        q, a = b.reason_dialogue('the cat', True, 'because', train=True)
        kinds.append(
            'alone' if '[SEG]' not in a
            else 'both' if a.endswith(' because') else 'seg'
        )  # fmt: skip
    share = {k: kinds.count(k) / len(kinds) for k in ('alone', 'both', 'seg')}
    assert abs(share['alone'] - 0.1) < 0.015
    assert abs(share['both'] - 0.45) < 0.025
    assert abs(share['seg'] - 0.45) < 0.025
    never = GSVAConversationBuilder(explanatory=0.0)
    assert all(
        '[SEG]' in never.reason_dialogue('x', True, 'y', train=True)[1]
        for _ in range(200)
    )
    with pytest.raises(ValueError, match='explanatory'):
        GSVAConversationBuilder(explanatory=1.5)


def test_templates_are_deterministic_under_a_seed():
    b = GSVAConversationBuilder()
    tok = _tokenizer(b)

    def draw():
        out = []
        for i in range(30):
            enc = b.encode_reason(
                tok, 'the cat', bool(i % 2), 'because it is soft', train=True
            )
            out.append(enc['input_ids'].tolist())
            out.append(b.question(['a cat'], train=True))
        return out

    random.seed(3)
    first = draw()
    random.seed(3)
    assert draw() == first
    assert len({str(x) for x in first}) > 4  # the templates do vary


def test_vqa_two_rounds_labels_exactly_on_the_answers():
    b = GSVAConversationBuilder()
    tok = _tokenizer(b)
    enc = b.encode_vqa(tok, VQA, num_image_tokens=2)
    # LLaVA's get_prompt (SeparatorStyle.TWO), the image moved to the
    # front of its turn (preprocess_multimodal)
    assert enc['text'] == (
        f'{VICUNA_V1_SYSTEM} USER: <image>\nWhat is the cat doing? '
        'ASSISTANT: The cat sleeps.</s>USER: Is it red? ASSISTANT: No.</s>'
    )
    tokens = tok.convert_ids_to_tokens(enc['input_ids'].tolist())
    human1 = (
        ['<s>']
        + _words(tok, VICUNA_V1_SYSTEM)
        + ['user', ':', '<image>', '<image>']
        + 'what is the cat doing ? assistant :'.split()
    )
    answer1 = 'the cat sleeps . </s>'.split()
    human2 = 'user : is it red ? assistant :'.split()
    answer2 = 'no . </s>'.split()
    assert tokens == human1 + answer1 + human2 + answer2
    labels = enc['labels'].tolist()
    ids = enc['input_ids'].tolist()
    learned = [
        i
        for i in range(len(ids))
        if labels[i] != IGNORE_INDEX and labels[i] == ids[i]
    ]
    a1 = list(range(len(human1), len(human1) + len(answer1)))
    start2 = len(human1) + len(answer1) + len(human2)
    a2 = list(range(start2, start2 + len(answer2)))
    assert learned == a1 + a2
    assert sum(v != IGNORE_INDEX for v in labels) == len(a1) + len(a2)
    assert enc['prompt_length'] == len(human1)
    assert enc['slot_positions'].numel() == 0
    assert enc['truncated'] is False


def test_vqa_special_strings_make_no_slot():
    b = GSVAConversationBuilder()
    tok = _tokenizer(b)
    turns = [
        {'from': 'human', 'value': '<image>\nIs it a [SEG] or [REJ]?'},
        {'from': 'gpt', 'value': 'It is [SEG] red.'},
    ]
    enc = b.encode_vqa(tok, turns, num_image_tokens=1)
    seg, rej = tok.convert_tokens_to_ids(['[SEG]', '[REJ]'])
    ids = enc['input_ids'].tolist()
    assert seg not in ids and rej not in ids
    assert enc['slot_positions'].numel() == 0
    assert _labelled(tok, enc) == 'it is red . </s>'.split()


def test_vqa_turn_rules():
    b = GSVAConversationBuilder()
    gpt_first = [{'from': 'gpt', 'value': 'Hello.'}, *VQA]
    assert b.vqa_rounds(gpt_first) == b.vqa_rounds(VQA)  # skipped
    assert b.vqa_rounds(VQA) == [
        ('What is the cat doing?', 'The cat sleeps.'),
        ('Is it red?', 'No.'),
    ]
    with pytest.raises(ValueError, match='pairs'):
        b.vqa_rounds(VQA[:3])
    with pytest.raises(ValueError, match='not'):
        b.vqa_rounds([VQA[0], VQA[2]])


def test_vqa_truncated_at_max_length_keeping_the_image():
    b = GSVAConversationBuilder(max_length=44)
    tok = _tokenizer(b)
    full = GSVAConversationBuilder().encode_vqa(tok, VQA, num_image_tokens=8)
    assert len(full['input_ids']) > 44
    enc = b.encode_vqa(tok, VQA, num_image_tokens=8)
    assert enc['truncated'] is True
    assert len(enc['input_ids']) == len(enc['labels']) == 44
    assert torch.equal(enc['input_ids'], full['input_ids'][:44])
    assert torch.equal(enc['labels'], full['labels'][:44])
    image = tok.convert_tokens_to_ids('<image>')
    assert (enc['input_ids'] == image).sum() == 8
    # a limit that would cut the image tokens is an error
    system = len(_words(tok, VICUNA_V1_SYSTEM))
    tight = GSVAConversationBuilder(max_length=system + 5)
    with pytest.raises(ValueError, match='image tokens'):
        tight.encode_vqa(tok, VQA, num_image_tokens=8)
    # the tokenizer's own limit bounds it too
    tok.model_max_length = 42
    assert len(b.encode_vqa(tok, VQA, num_image_tokens=8)['input_ids']) == 42


def test_llama_2_vqa_rounds():
    b = GSVAConversationBuilder(style='llama_2', system=LLAVA_LLAMA_2_SYSTEM)
    assert b.vqa_text(VQA) == (
        f'[INST] <<SYS>>\n{LLAVA_LLAMA_2_SYSTEM}\n<</SYS>>\n\n<image>\nWhat '
        'is the cat doing? [/INST] The cat sleeps. </s><s>[INST] Is it '
        'red? [/INST] No. </s>'
    )
    tok = _tokenizer(b, extra=['[INST] <<SYS>> <</SYS>> [/INST]'])
    enc = b.encode_vqa(tok, VQA, num_image_tokens=1)
    tokens = tok.convert_ids_to_tokens(enc['input_ids'].tolist())
    # the second round starts with BOS, not learned
    k = tokens.index('</s>')
    assert tokens[k + 1 : k + 4] == ['<s>', '[', 'inst']
    assert _labelled(tok, enc) == 'the cat sleeps . </s> no . </s>'.split()


def test_words_cover_the_reason_templates():
    b = GSVAConversationBuilder()
    assert b.mixture_words() == list(MIXTURE_WORDS)
    assert not set(MIXTURE_WORDS) & set(b.words())
    tok = _tokenizer(b)
    unk = tok.unk_token_id
    random.seed(0)
    for _ in range(100):
        for sentence in (True, False):
            enc = b.encode_reason(
                tok, 'the cat', sentence, 'because it is soft', train=True
            )
            assert unk not in enc['input_ids'].tolist(), enc['text']
    for sentence in (True, False):
        enc = b.encode_reason(tok, 'the cat', sentence)
        assert unk not in enc['input_ids'].tolist()
