from mmgres.models.mllm import build_word_tokenizer, split_words


def test_split_words_hand_example():
    assert split_words("USER: the human's Circle?") == [
        'user',
        ':',
        'the',
        'human',
        "'",
        's',
        'circle',
        '?',
    ]


def test_llama_style_specials_and_unknown_words():
    tok = build_word_tokenizer(['the red circle', 'red', 'a cat.'])
    vocab = tok.get_vocab()
    assert [vocab[t] for t in ('<unk>', '<s>', '</s>')] == [0, 1, 2]
    assert tok.bos_token_id == 1 and tok.eos_token_id == 2
    assert tok.pad_token is None  # as Llama
    # specials + the, red, circle, a, cat, "." (duplicates dropped)
    assert len(tok) == 3 + 6
    ids = tok('The RED dog.', add_special_tokens=False)['input_ids']
    assert tok.convert_ids_to_tokens(ids) == ['the', 'red', '<unk>', '.']


def test_added_tokens_are_matched_on_raw_text_with_offsets():
    from tokenizers import AddedToken

    tok = build_word_tokenizer(['a cat', ':', ','])
    tok.add_tokens([AddedToken('[SEG]', normalized=False)])
    enc = tok(
        'A cat:[SEG], cat',
        add_special_tokens=False,
        return_offsets_mapping=True,
    )
    assert tok.convert_ids_to_tokens(enc['input_ids']) == [
        'a',
        'cat',
        ':',
        '[SEG]',
        ',',
        'cat',
    ]
    assert enc['offset_mapping'] == [
        (0, 1),
        (2, 5),
        (5, 6),
        (6, 11),
        (11, 12),
        (13, 16),
    ]
