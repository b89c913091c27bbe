"""The full-size GSVA (LLaVA-7B/13B + SAM ViT-H), built on the meta device
from config dicts (no download, no memory), and its parameter counts."""

import pytest
import torch
from mmengine.registry import DefaultScope

from mmgres.models.tokenizers import build_word_tokenizer
from mmgres.registry import MODELS
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)


@pytest.fixture(scope='module')
def vicuna_sized_tokenizer(tmp_path_factory):
    # a stand-in with the Llama/Vicuna vocabulary size (32000 entries),
    # loaded from files as the full configs load theirs
    tok = build_word_tokenizer([f'w{i}' for i in range(32000 - 3)])
    assert len(tok) == 32000
    path = str(tmp_path_factory.mktemp('vicuna_sized_tokenizer'))
    tok.save_pretrained(path)
    return dict(type='AutoTokenizer', name_or_path=path, use_fast=True)


def _full_gsva(arch, rank, tokenizer):
    cfg = dict(
        type='GSVA',
        mllm=dict(
            type='LlavaMLLM',
            model_cfg=arch,
            pretrained=False,
            tokenizer=tokenizer,
            lora_cfg=dict(
                r=rank,
                lora_alpha=16,
                lora_dropout=0.05,
                target_modules=['q_proj', 'v_proj'],
            ),
        ),
        mask_head=dict(
            type='GSVAMaskHead',
            segmentor=dict(
                type='HFSamSegmentor',
                model_cfg='sam-vit-huge',
                pretrained=False,
            ),
        ),
    )
    with DefaultScope.overwrite_default_scope('mmgres'), torch.device('meta'):
        return MODELS.build(cfg)


def _count(module, trainable=None, lora=None):
    n = 0
    for name, p in module.named_parameters():
        if trainable is not None and p.requires_grad != trainable:
            continue
        if lora is not None and ('.lora_' in name) != lora:
            continue
        n += p.numel()
    return n


def test_gsva_vicuna_7b_param_counts(vicuna_sized_tokenizer):
    model = _full_gsva('llava-v1-vicuna-7b', 8, vicuna_sized_tokenizer)
    assert all(p.device.type == 'meta' for p in model.parameters())
    vocab = len(model.mllm.tokenizer)
    assert vocab == 32000 + 3  # <image>, [SEG], [REJ]

    llava = _count(model.mllm, lora=False)
    sam = _count(model.mask_head.segmentor)
    # paper: LLaVA-7B ~ 7.0 B, SAM ViT-H ~ 0.64 B (+-2 %)
    assert abs(llava - 7.0e9) / 7.0e9 < 0.02, llava
    assert abs(sam - 0.64e9) / 0.64e9 < 0.02, sam
    assert llava == 7_045_818_368
    assert sam == 641_090_864
    # paper Sec. 3.1: a linear projector φ, LLaVA v1's one Linear from CLIP
    # ViT-L (1024) to Vicuna-7B (4096); HF's LLaVA-1.5 MLP would add a
    # second 4096 x 4096 Linear, 16,781,312 more
    proj = model.mllm.model.model.multi_modal_projector
    assert isinstance(proj, torch.nn.Linear)
    assert _count(proj) == 1024 * 4096 + 4096 == 4_198_400

    d = 4096
    lora = 32 * 2 * 8 * (d + d)  # layers x (q, v) x rank x (A + B)
    embed = head = vocab * d
    decoder = _count(model.mask_head.segmentor.model.mask_decoder)
    psi = (d * d + d) + (d * 256 + 256)
    assert _count(model.mllm, lora=True) == lora == 4_194_304
    iou_head = _count(
        model.mask_head.segmentor.model.mask_decoder.iou_prediction_head
    )
    assert decoder == 4_058_340 and iou_head == 132_612  # IoU head frozen
    assert (
        _count(model, trainable=True)
        == (lora + embed + head + decoder - iou_head + psi)
        == 288_118_752
    )


def test_gsva_vicuna_13b_lora_rank_64(vicuna_sized_tokenizer):
    model = _full_gsva('llava-v1-vicuna-13b', 64, vicuna_sized_tokenizer)
    d = 5120
    llava = _count(model.mllm, lora=False)
    assert abs(llava - 13.35e9) / 13.35e9 < 0.01, llava
    lora = 40 * 2 * 64 * (d + d)
    assert _count(model.mllm, lora=True) == lora == 52_428_800
    trainable = _count(model, trainable=True)
    vocab = len(model.mllm.tokenizer)
    psi = (d * d + d) + (d * 256 + 256)
    assert trainable == lora + 2 * vocab * d + 3_925_728 + psi
