"""One training step gives every trainable parameter of every model a
gradient, so that DDP needs no ``find_unused_parameters``: a parameter with
``requires_grad=True`` and no gradient makes DDP fail on the next step
("Expected to have finished reduction in the prior iteration").

The tiny configs are built as they are; the full-size ones with random
weights and stand-in tokenizers (no hub here), smaller inputs, and GSVA's
LLaVA and SAM shrunk to tiny random models that keep the config's LoRA,
trainable modules and freezing. Full-size configs with the same model are
tested once."""

import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import (
    demo_grounding_inputs,
    tiny_beit3_cfg,
    tiny_llava_cfg,
    tiny_sam_cfg,
    tiny_text_encoder_cfg,
)

from ..igvg_utils import add_context_instances, shrink_igvg
from ..instalign_utils import shrink_instalign, tiny_instalign_cfg
from ..raam_utils import shrink_raam

TEXTS = ('the red circle on the left', 'all blue squares')
VOCAB = sorted({w for t in TEXTS for w in t.split()})

TINY = sorted(
    p
    for p in glob.glob('configs/**/*.py', recursive=True)
    if '_base_' not in p and 'tiny' in osp.basename(p)
)
FULL_PATTERNS = (
    'configs/instalign/*swin-b*.py',
    'configs/raam/*swin-b*.py',
    'configs/raam/*vit-b*.py',
    'configs/raam/ablations/*vit-b*.py',
    'configs/igvg/*beit3-base*.py',
    'configs/gsva/*llava*.py',
)


def _unique_models(paths):
    """The first config of each distinct ``cfg.model``."""
    seen, kept = set(), []
    for path in paths:
        key = repr(Config.fromfile(path).model.to_dict())
        if key not in seen:
            seen.add(key)
            kept.append(path)
    return kept


TINY = _unique_models(TINY)
FULL = _unique_models(
    sorted(p for pattern in FULL_PATTERNS for p in glob.glob(pattern))
)


def _tiny_text_encoder(text_encoder, hidden_size):
    """The config's text encoder (pooling, freezing, lengths kept) as a
    tiny random model of the same type with an in-memory tokenizer."""
    tiny = tiny_text_encoder_cfg(VOCAB, hidden_size=hidden_size)
    tiny['model_cfg']['model_type'] = text_encoder.model_cfg.model_type
    text_encoder.update(model_cfg=tiny['model_cfg'], pretrained=False)
    text_encoder.tokenizer = tiny['tokenizer']  # replaced, not merged
    return text_encoder


def _offline_full(model_cfg, size):
    """A full-size model config shrunk as the model tests do (random
    weights, small widths and depths, ``size`` x ``size`` inputs), with the
    options that decide what is trained kept: the text encoder's pooling,
    the task mode, GSVA's LoRA, trainable modules, freezing and dtype."""
    cfg = copy.deepcopy(model_cfg)
    if cfg.type == 'InstAlign':
        text_encoder = cfg.text_encoder
        cfg = shrink_instalign(cfg)
        cfg.text_encoder = _tiny_text_encoder(text_encoder, 32)
    elif cfg.type == 'RaAMRVG':
        text_encoder = cfg.text_encoder
        arch = (
            'swin' if cfg.backbone.vision.type == 'SwinTransformer' else 'vit'
        )
        cfg = shrink_raam(cfg, mode=cfg.head.mode, arch=arch)
        cfg.text_encoder = _tiny_text_encoder(text_encoder, 24)
    elif cfg.type == 'IGVG':
        backbone = cfg.backbone
        cfg = shrink_igvg(cfg, size=size)
        backbone.update(
            arch='tiny',
            img_size=size,
            out_channels=cfg.backbone.out_channels,
            pretrained=None,
        )
        backbone.tokenizer = dict(type='WordPieceTokenizer', vocab=VOCAB)
        cfg.backbone = backbone
    elif cfg.type == 'GSVA':
        cfg.mllm.update(
            name_or_path=None,
            pretrained=False,
            model_cfg=tiny_llava_cfg(),
        )
        cfg.mllm.tokenizer = dict(type='WordLevelTokenizer', words=VOCAB)
        cfg.mask_head.segmentor.update(
            name_or_path=None,
            pretrained=False,
            model_cfg=tiny_sam_cfg(image_size=size),
        )
    else:
        raise ValueError(f'No shrinking for {cfg.type}')
    return cfg


def _batch(model_cfg, size, no_target_only=False):
    """Two samples of two images: a no-target one and one with two
    instances, or two no-target ones."""
    if no_target_only:
        parts = [
            demo_grounding_inputs(
                batch_size=1,
                image_shape=(size, size),
                texts=(text,),
                no_target_first=True,
                seed=i,
            )
            for i, text in enumerate(TEXTS)
        ]
        inputs = torch.cat([p[0] for p in parts])
        samples = [p[1][0] for p in parts]
    else:
        inputs, samples = demo_grounding_inputs(
            batch_size=2,
            image_shape=(size, size),
            num_instances=2,
            texts=TEXTS,
            no_target_first=True,
        )
    for i, sample in enumerate(samples):
        sample.set_metainfo(dict(img_path=f'img{i}.png'))
    if model_cfg.get('head', {}).get('context_instances'):
        add_context_instances(samples)
    return dict(inputs=inputs, data_samples=samples)


def _params_without_grad(model_cfg, size, no_target_only=False):
    """One training step; the trainable parameters left without a
    gradient."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(model_cfg)
    model.train()
    batch = _batch(model_cfg, size, no_target_only)
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    trainable = [
        (n, p) for n, p in model.named_parameters() if p.requires_grad
    ]
    assert trainable
    return [n for n, p in trainable if p.grad is None]


def test_there_are_configs_of_every_model():
    for name in ('instalign', 'igvg', 'raam', 'gsva'):
        assert any(f'configs/{name}/' in p for p in TINY)
        assert any(f'configs/{name}/' in p for p in FULL)


@pytest.mark.parametrize('path', TINY)
def test_tiny_config_every_trainable_param_gets_grad(path):
    cfg = Config.fromfile(path).model
    size = 128  # the synthetic benchmark's images
    assert _params_without_grad(cfg, size) == []


@pytest.mark.parametrize('path', FULL)
def test_full_config_every_trainable_param_gets_grad(path):
    cfg = _offline_full(Config.fromfile(path).model, size=64)
    assert _params_without_grad(cfg, 64) == []


@pytest.mark.parametrize(
    'path',
    [
        'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py',
        'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py',
        'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py',
        'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py',
    ],
)
def test_no_target_only_batch_every_trainable_param_gets_grad(path):
    """A rank may draw only no-target samples; its step must reach every
    parameter too."""
    cfg = Config.fromfile(path).model
    assert _params_without_grad(cfg, 128, no_target_only=True) == []


# Parameters that a model never reads are frozen, not removed: checkpoints
# that hold them still load, and what is read stays trainable.


def test_unread_pooler_is_frozen_and_still_loads(tmp_path):
    from transformers import AutoConfig, AutoModel

    cfg = tiny_text_encoder_cfg(VOCAB)
    hf = AutoModel.from_config(AutoConfig.for_model(**cfg['model_cfg']))
    hf.save_pretrained(tmp_path)  # a BERT checkpoint with its pooler
    for pooling in ('pooler', 'cls', 'mean', None):
        cfg.update(pooling=pooling, pretrained=str(tmp_path))
        encoder = MODELS.build(cfg)
        encoder.init_weights()
        pooler = encoder.model.pooler
        torch.testing.assert_close(pooler.dense.weight, hf.pooler.dense.weight)
        assert [p.requires_grad for p in pooler.parameters()] == [
            pooling == 'pooler'
        ] * 2
        out = encoder(TEXTS)
        assert ('sentence_feat' in out) == (pooling is not None)


def test_beit3_mask_token_is_frozen_and_still_loads(tmp_path):
    cfg = tiny_beit3_cfg(vocab=VOCAB)
    source = MODELS.build(cfg)
    with torch.no_grad():
        source.beit3.vision_embed.mask_token.fill_(0.5)
    state = {
        k: v for k, v in source.state_dict().items() if k.startswith('beit3.')
    }
    path = tmp_path / 'beit3_tiny.pth'
    torch.save({'model': state}, path)  # the official layout
    model = MODELS.build(cfg)
    report = model.load_beit3_checkpoint(str(path), strict=True)
    assert report['unexpected_keys'] == []
    token = model.beit3.vision_embed.mask_token
    assert not token.requires_grad and bool((token == 0.5).all())
    others = [p for n, p in model.named_parameters() if 'mask_token' not in n]
    assert all(p.requires_grad for p in others)


def test_sam_iou_head_is_frozen_and_kept():
    sam = MODELS.build(
        dict(type='HFSamSegmentor', model_cfg=tiny_sam_cfg(), pretrained=False)
    )
    for name, p in sam.model.mask_decoder.named_parameters():
        assert p.requires_grad != name.startswith('iou_prediction_head.')
    assert any('iou_prediction_head' in k for k in sam.state_dict())


@pytest.mark.parametrize('layer', [-1, -2])
def test_llava_unread_vision_parts_are_frozen(layer):
    model_cfg = tiny_llava_cfg()
    model_cfg['vision_feature_layer'] = layer
    mllm = MODELS.build(
        dict(
            type='LlavaMLLM',
            model_cfg=model_cfg,
            pretrained=False,
            tokenizer=dict(type='WordLevelTokenizer', words=VOCAB),
            lora_cfg=None,
            trainable_modules=('vision_tower',),
        )
    )
    tower = mllm.model.model.vision_tower
    tower = getattr(tower, 'vision_model', tower)
    # hidden_states[i] is the output of the first i layers (2 here)
    read = len(tower.encoder.layers) + 1 + layer
    for i, block in enumerate(tower.encoder.layers):
        assert all(p.requires_grad == (i < read) for p in block.parameters())
    assert not any(p.requires_grad for p in tower.post_layernorm.parameters())
    assert all(p.requires_grad for p in tower.embeddings.parameters())


LAST_TEXT = (
    'transformer_decoder.layers.1.text_to_query_attn',
    'transformer_decoder.layers.1.text_norm',
)


@pytest.mark.parametrize(
    'options, frozen',
    [
        (dict(), ()),
        (dict(aggregation='best'), ('ia_act',)),
        (dict(loss_poa=None), LAST_TEXT),
    ],
)
def test_instalign_head_freezes_only_what_it_never_reads(options, frozen):
    cfg = tiny_instalign_cfg()  # 2 decoder layers
    cfg.head.update(options)
    if 'loss_poa' in options:  # and no POA match cost either
        cfg.train_cfg.assigner.match_costs = [
            c
            for c in cfg.train_cfg.assigner.match_costs
            if 'POA' not in c.type
        ]
    with DefaultScope.overwrite_default_scope('mmgres'):
        head = MODELS.build(cfg).head
    # (str.startswith of an empty tuple is False)
    assert {n for n, p in head.named_parameters() if not p.requires_grad} == {
        n for n, _ in head.named_parameters() if n.startswith(frozen)
    }
    assert _params_without_grad(cfg, 64) == []


# Under DDP each rank's loss runs the same collectives in the same order
# (mmdet's reduce_mean of the target counts), whatever samples it drew: a
# rank that skips one pairs its next collective with the others' different
# one, and gloo aborts ("Received data size doesn't match expected size").
@pytest.fixture
def one_rank_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path}/group',
        rank=0,
        world_size=1,
    )
    yield
    dist.destroy_process_group()


def _collectives(model_cfg, no_target_only, monkeypatch):
    """The shapes of the all-reduces of one loss computation."""
    import torch.distributed as dist
    from torch.distributed import distributed_c10d

    calls, real = [], distributed_c10d.all_reduce

    def counting(tensor, *args, **kwargs):
        calls.append(tuple(tensor.shape))
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(dist, 'all_reduce', counting)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmgres'):
        model = MODELS.build(model_cfg)
    model.train()
    batch = _batch(model_cfg, 128, no_target_only)
    model(**model.data_preprocessor(batch, True), mode='loss')
    return calls


@pytest.mark.parametrize(
    'path',
    [
        'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py',
        'projects/instalign_extensions/configs/'
        'instalign_tiny-r18_1xb8-10e_synthetic-grefcoco_context.py',
        'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py',
        'projects/igvg_extensions/configs/'
        'igvg_tiny-convstem_1xb8-8e_synthetic-grefcoco_context.py',
        'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py',
        'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py',
    ],
)
def test_collectives_do_not_depend_on_the_samples(
    path, one_rank_group, monkeypatch
):
    cfg = Config.fromfile(path).model
    with_targets = _collectives(cfg, False, monkeypatch)
    without = _collectives(cfg, True, monkeypatch)
    assert with_targets == without
