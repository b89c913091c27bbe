"""The tiny configs name their tokenizer by reference to the dataset
config (``{{_base_.synthetic_wordpiece}}``); it resolves, and survives the
dump and reload that mim and the test tools do."""

import pytest
from mmengine.config import Config

from mmgres.registry import TOKENIZER

WORDPIECE = dict(type='SyntheticWordPieceTokenizer')
WORD_LEVEL = dict(type='SyntheticWordLevelTokenizer')
TINY = {
    'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py': (
        ('text_encoder', WORDPIECE, 5 + 44)
    ),
    'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py': (
        ('text_encoder', WORDPIECE, 5 + 44)
    ),
    'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py': (
        ('backbone', WORDPIECE, 5 + 44)
    ),
    'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py': (
        ('mllm', WORD_LEVEL, 3 + 44)
    ),
}


@pytest.mark.parametrize('path', sorted(TINY))
def test_tiny_config_tokenizer_survives_dump(path, tmp_path):
    part, expected, size = TINY[path]
    cfg = Config.fromfile(path)
    assert cfg.model[part].tokenizer == expected
    dumped = tmp_path / 'dumped.py'
    cfg.dump(str(dumped))
    again = Config.fromfile(str(dumped))
    assert again.model[part].tokenizer == expected
    # special tokens + the benchmark's 44 words
    assert len(TOKENIZER.build(again.model[part].tokenizer)) == size
