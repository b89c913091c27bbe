"""BaseGrounder's optional text encoder: every grounder is built through
``BaseGrounder.__init__``; IGVG (BEiT-3 reads the text) and GSVA (the LLM
reads it) have no text encoder of their own."""

import pytest
import torch

from mmgres.models.grounders.base_grounder import BaseGrounder
from mmgres.registry import MODELS

from ..gsva_utils import tiny_gsva_cfg
from ..igvg_utils import fake_batch, tiny_igvg_cfg
from ..instalign_utils import tiny_instalign_cfg
from ..raam_utils import tiny_raam_cfg

CONFIGS = dict(
    InstAlign=(tiny_instalign_cfg, True),
    RaAMRVG=(tiny_raam_cfg, True),
    IGVG=(tiny_igvg_cfg, False),
    GSVA=(tiny_gsva_cfg, False),
)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_grounders_build_through_base_grounder(name, monkeypatch):
    make_cfg, with_text = CONFIGS[name]
    calls = []
    base_init = BaseGrounder.__init__

    def spy(self, text_encoder=None, **kwargs):
        calls.append(text_encoder)
        base_init(self, text_encoder=text_encoder, **kwargs)

    monkeypatch.setattr(BaseGrounder, '__init__', spy)
    torch.manual_seed(0)
    model = MODELS.build(make_cfg())
    assert type(model).__name__ == name
    # once, with the text encoder config only where there is one
    assert len(calls) == 1
    assert (calls[0] is not None) is with_text
    assert model.with_text_encoder is with_text
    assert ('text_encoder' in dict(model.named_children())) is with_text


def test_without_text_encoder():
    model = MODELS.build(tiny_igvg_cfg())
    assert not model.with_text_encoder
    # tools still find IGVG's tokenizer through its text_encoder property
    assert model.text_encoder is model.backbone
    _, samples = fake_batch()
    with pytest.raises(RuntimeError, match='IGVG has no text encoder'):
        model.extract_text(samples)
