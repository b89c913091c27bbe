import io
import sys

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.backbones import (
    build_beit3_tokenizer,
    import_torchscale,
    interpolate_vision_pos_embed,
)

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


def test_interpolate_vision_pos_embed_by_hand():
    # 3 extra rows + a 2x2 grid, channel c of cell (i, j) = 10 * c + 2i + j
    extra = torch.arange(6.0).reshape(3, 2) - 100
    grid = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    cells = torch.stack([grid, grid + 10], -1).reshape(4, 2)
    pos = torch.cat([extra, cells])
    out = interpolate_vision_pos_embed(pos, 3, (4, 4))
    assert out.shape == (3 + 16, 2)
    torch.testing.assert_close(out[:3], extra)  # leading rows kept
    expect = F.interpolate(
        grid[None, None], size=(4, 4), mode='bicubic', align_corners=False
    )[0, 0].reshape(16)
    torch.testing.assert_close(out[3:, 0], expect)
    torch.testing.assert_close(out[3:, 1], expect + 10)
    # a constant grid stays constant
    flat = torch.cat([extra, torch.full((4, 2), 7.0)])
    torch.testing.assert_close(
        interpolate_vision_pos_embed(flat, 3, (3, 3))[3:],
        torch.full((9, 2), 7.0),
    )
    # same grid: nothing to do; a non-square table is refused
    assert interpolate_vision_pos_embed(pos, 3, (2, 2)) is pos
    with pytest.raises(ValueError, match='square'):
        interpolate_vision_pos_embed(pos[:-1], 3, (4, 4))


def test_build_beit3_tokenizer_uses_fairseq_ids(tmp_path):
    path = tmp_path / 'beit3.spm'
    sp = train_spm(path)
    tok = build_beit3_tokenizer(str(path))
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


def test_import_torchscale_leaves_no_fake_timm():
    beit3_cls, config_cls = import_torchscale()
    assert beit3_cls.__module__ == 'torchscale.model.BEiT3'
    assert config_cls.__name__ == 'EncoderConfig'
    timm = sys.modules.get('timm')
    # either the real timm, or none at all once torchscale is imported
    assert timm is None or hasattr(timm, '__version__')
