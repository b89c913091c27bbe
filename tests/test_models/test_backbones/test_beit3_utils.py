import sys

import pytest
import torch
import torch.nn.functional as F

from mmgres.models.backbones import (
    import_torchscale,
    interpolate_vision_pos_embed,
)

# test_beit3.py imports train_spm from here
from ..test_tokenizers.test_beit3_tokenizer import train_spm  # noqa: F401


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


def test_import_torchscale_leaves_no_fake_timm():
    beit3_cls, config_cls = import_torchscale()
    assert beit3_cls.__module__ == 'torchscale.model.BEiT3'
    assert config_cls.__name__ == 'EncoderConfig'
    timm = sys.modules.get('timm')
    # either the real timm, or none at all once torchscale is imported
    assert timm is None or hasattr(timm, '__version__')
