import random

import pytest
import torch

from mmgres.models.tokenizers import build_word_tokenizer
from mmgres.models.utils import (
    APPENDIX_QUESTIONS,
    IGNORE_INDEX,
    PAPER_QUESTION,
    TRAIN_QUESTIONS,
    VICUNA_V1_SYSTEM,
    GSVAConversationBuilder,
)
from mmgres.registry import TASK_UTILS

WORDS = ['the', 'red', 'circle', 'a', 'cat', 'big', 'blue', 'square', 'dog']


def _tokenizer(builder=None):
    from tokenizers import AddedToken

    builder = builder or GSVAConversationBuilder()
    tok = build_word_tokenizer([*builder.words(), *WORDS])
    tok.add_tokens(
        [AddedToken('<image>', normalized=False, special=True)],
        special_tokens=True,
    )
    tok.add_tokens(
        [AddedToken(t, normalized=False) for t in ('[SEG]', '[REJ]')]
    )
    return tok


def test_registered_and_built_from_config():
    b = TASK_UTILS.build(
        dict(type='GSVAConversationBuilder', max_expressions=2)
    )
    assert isinstance(b, GSVAConversationBuilder)
    assert b.max_expressions == 2


def test_paper_dialogue_text_mixed_seg_rej():
    b = GSVAConversationBuilder()
    exprs = ['the red circle', 'a cat', 'the big blue square.']
    assert b.answer(exprs, [False, True, False]) == (
        'Sure, the red circle:[SEG], a cat:[REJ], the big blue square:[SEG].'
    )
    assert b.prompt(exprs) == (
        f'{VICUNA_V1_SYSTEM} USER: <image>\nWhat are the red circle, a cat, '
        'the big blue square in this image? Please output segmentation '
        'masks. ASSISTANT:'
    )
    # all absent, all present
    assert b.answer(['a cat'], [True]) == 'Sure, a cat:[REJ].'
    assert b.answer(['a cat', 'a dog']) == 'Sure, a cat:[SEG], a dog:[SEG].'


def test_without_rej_every_slot_is_seg():
    b = GSVAConversationBuilder(use_rej=False)
    assert b.answer(['a cat', 'a dog'], [True, False]) == (
        'Sure, a cat:[SEG], a dog:[SEG].'
    )


def test_clean_expressions():
    b = GSVAConversationBuilder()
    assert b.clean('  the   red circle.. ') == 'the red circle'
    assert b.clean('a [SEG] cat [REJ]') == 'a cat'
    with pytest.raises(ValueError, match='empty'):
        b.clean(' . ')


def test_split_into_dialogues():
    b = GSVAConversationBuilder(max_expressions=3)
    assert b.split(7) == [[0, 1, 2], [3, 4, 5], [6]]
    assert b.split(2) == [[0, 1]]
    assert b.split(0) == []
    assert b.split(5, max_expressions=5) == [[0, 1, 2, 3, 4]]
    with pytest.raises(ValueError):
        GSVAConversationBuilder(max_expressions=0)


def test_question_templates_train_vs_test():
    b = GSVAConversationBuilder()
    assert b.question(['a cat'], train=False) == PAPER_QUESTION.replace(
        '{objs}', 'a cat'
    )
    random.seed(0)
    seen = {b.question(['a cat'], train=True) for _ in range(200)}
    assert seen == {t.replace('{objs}', 'a cat') for t in TRAIN_QUESTIONS}
    show = GSVAConversationBuilder(test_question=APPENDIX_QUESTIONS['show'])
    assert show.question(['a cat', 'a dog'], train=False) == (
        'Show me a cat, a dog in the image with segmentation masks.'
    )
    with pytest.raises(ValueError, match='objs'):
        GSVAConversationBuilder(test_question='What is it?')


def test_label_masking_exact_positions():
    """Hand-worked: only the answer tokens and EOS are learned."""
    tok = _tokenizer()
    b = GSVAConversationBuilder()
    enc = b.encode(
        tok, ['the red circle', 'a cat'], [False, True], num_image_tokens=4
    )
    ids, labels = enc['input_ids'], enc['labels']
    tokens = tok.convert_ids_to_tokens(ids.tolist())
    answer = 'sure , the red circle : [SEG] , a cat : [REJ] . </s>'.split()
    n = len(answer)
    assert tokens[-n:] == answer
    assert tokens[0] == '<s>'
    # the prompt: BOS, system prompt, "user :", 4 image tokens, question,
    # "assistant :"
    prompt_words = (
        ['<s>']
        + tok.convert_ids_to_tokens(
            tok(VICUNA_V1_SYSTEM, add_special_tokens=False)['input_ids']
        )
        + ['user', ':']
        + ['<image>'] * 4
        + 'what are the red circle , a cat in this image ? please output '
        'segmentation masks . assistant :'.split()
    )
    assert tokens[:-n] == prompt_words
    assert enc['prompt_length'] == len(prompt_words)
    expected = torch.full_like(ids, IGNORE_INDEX)
    expected[-n:] = ids[-n:]
    assert torch.equal(labels, expected)
    length = len(ids)
    # [SEG] is the 7th answer token, [REJ] the 12th
    assert enc['slot_positions'].tolist() == [
        length - n + 6,
        length - n + 11,
    ]
    assert enc['slot_is_seg'].tolist() == [True, False]
    seg, rej = tok.convert_tokens_to_ids(['[SEG]', '[REJ]'])
    assert ids[enc['slot_positions']].tolist() == [seg, rej]


def test_prompt_for_generation_is_the_teacher_forced_prefix():
    tok = _tokenizer()
    b = GSVAConversationBuilder()
    exprs = ['a cat', 'the red circle', 'a dog']
    full = b.encode(tok, exprs, [True, False, False], num_image_tokens=3)
    prompt = b.encode(tok, exprs, with_answer=False, num_image_tokens=3)
    assert set(prompt) == {'input_ids', 'prompt_length', 'text'}
    n = prompt['prompt_length']
    assert n == len(prompt['input_ids']) == full['prompt_length']
    assert torch.equal(prompt['input_ids'], full['input_ids'][:n])
    assert full['slot_is_seg'].tolist() == [False, True, True]


def test_sentencepiece_style_tokenizer_offsets():
    """A Llama-like BPE with a metaspace ('▁Sure' starts at the space): the
    labelled tokens decode to exactly the answer."""
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    b = GSVAConversationBuilder()
    exprs = ['the red circle', 'a cat']
    corpus = [b.prompt(exprs) + ' ' + b.answer(exprs, [False, True])] * 3
    corpus += b.words() + WORDS
    bpe = Tokenizer(models.BPE(unk_token='<unk>'))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace()
    bpe.decoder = decoders.Metaspace()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=['<unk>', '<s>', '</s>']
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        unk_token='<unk>',
        bos_token='<s>',
        eos_token='</s>',
    )
    tok.add_tokens(
        [AddedToken('<image>', normalized=False, special=True)],
        special_tokens=True,
    )
    tok.add_tokens(
        [AddedToken(t, normalized=False) for t in ('[SEG]', '[REJ]')]
    )
    enc = b.encode(tok, exprs, [False, True], num_image_tokens=2)
    learned = enc['input_ids'][enc['labels'] != IGNORE_INDEX]
    assert learned[-1] == tok.eos_token_id
    # the learned pieces are the answer's, from "▁Sure" (which starts at
    # the space after "ASSISTANT:") to the final "."
    pieces = tok.convert_ids_to_tokens(learned[:-1].tolist())
    assert pieces[0].startswith('▁S')
    answer = 'Sure, the red circle:[SEG], a cat:[REJ].'
    # (a metaspace also marks the piece after an added token: "▁,")
    joined = ''.join(pieces).replace('▁', '')
    assert joined == answer.replace(' ', '')
    prompt_pieces = tok.convert_ids_to_tokens(
        enc['input_ids'][: enc['prompt_length']].tolist()
    )
    assert ''.join(prompt_pieces).endswith(':')
    assert enc['slot_is_seg'].tolist() == [True, False]


def test_encode_errors():
    tok = _tokenizer()
    b = GSVAConversationBuilder(max_expressions=2)
    with pytest.raises(ValueError, match='use split'):
        b.encode(tok, ['a', 'b', 'c'])
    with pytest.raises(ValueError, match='no-target flags'):
        b.encode(tok, ['a cat'], [True, False])
    no_image = build_word_tokenizer([*b.words(), *WORDS])
    with pytest.raises(ValueError, match='image token'):
        b.encode(no_image, ['a cat'], with_answer=False)


def test_collate_right_and_left_padding():
    tok = _tokenizer()
    b = GSVAConversationBuilder()
    e1 = b.encode(tok, ['a cat'], [True], num_image_tokens=2)
    e2 = b.encode(tok, ['the red circle', 'a dog'], num_image_tokens=2)
    n1, n2 = len(e1['input_ids']), len(e2['input_ids'])
    assert n2 > n1
    right = b.collate([e1, e2], pad_token_id=0)
    assert right['input_ids'].shape == (2, n2)
    assert right['attention_mask'][0].tolist() == [1] * n1 + [0] * (n2 - n1)
    assert (right['labels'][0, n1:] == IGNORE_INDEX).all()
    assert torch.equal(right['slot_positions'][0], e1['slot_positions'])
    left = b.collate([e1, e2], pad_token_id=0, padding_side='left')
    assert left['attention_mask'][0].tolist() == [0] * (n2 - n1) + [1] * n1
    assert torch.equal(
        left['slot_positions'][0], e1['slot_positions'] + (n2 - n1)
    )
    assert torch.equal(left['input_ids'][0, n2 - n1 :], e1['input_ids'])
    prompts = [b.encode(tok, ['a cat'], with_answer=False)]
    assert set(b.collate(prompts, 0)) == {'input_ids', 'attention_mask'}
