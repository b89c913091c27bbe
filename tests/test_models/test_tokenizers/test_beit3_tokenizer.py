"""BEiT3Tokenizer: the official ``beit3.spm`` read as the BEiT-3 code
reads it (``XLMRobertaTokenizer``, fairseq ids)."""

import io

import pytest

from mmgres.models.tokenizers import build_beit3_tokenizer
from mmgres.registry import TOKENIZER

SENTENCES = [
    'the red circle on the left',
    'all blue squares',
    'two small green triangles at the top',
    'the big yellow star right of the square',
    'every object except the purple one',
]


def train_spm(path, vocab_size=60):
    """Train a tiny sentencepiece model at ``path`` (no download)."""
    spm = pytest.importorskip('sentencepiece')
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 10),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type='unigram',
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path.write_bytes(buf.getvalue())
    return spm.SentencePieceProcessor(model_file=str(path))


def test_build_beit3_tokenizer_uses_fairseq_ids(tmp_path):
    path = tmp_path / 'beit3.spm'
    sp = train_spm(path)
    tok = TOKENIZER.build(dict(type='BEiT3Tokenizer', vocab_file=str(path)))
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.unk_token_id == 3
    # every sentencepiece piece k >= 3 moves to k + 1, <mask> comes last
    assert len(tok) == sp.get_piece_size() + 2
    text = 'the big yellow star right of the square'
    ids = tok(text)['input_ids']
    assert ids == [0] + [i + 1 for i in sp.encode(text)] + [2]
    assert tok.convert_ids_to_tokens(ids[1:-1]) == sp.encode(
        text, out_type=str
    )


def test_build_beit3_tokenizer_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.spm'):
        build_beit3_tokenizer(str(tmp_path / 'nothere.spm'))
    bad = tmp_path / 'broken.spm'
    bad.write_bytes(b'\x00\x01 not a sentencepiece model')
    with pytest.raises(RuntimeError, match='broken.spm'):
        build_beit3_tokenizer(str(bad))


def test_model_max_length_is_the_text_position_table(tmp_path):
    path = tmp_path / 'beit3.spm'
    train_spm(path)
    tok = TOKENIZER.build(dict(type='BEiT3Tokenizer', vocab_file=str(path)))
    assert tok.model_max_length == 1024  # max_source_positions of BEiT-3
