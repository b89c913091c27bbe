"""GSVA's configs: the full ones carry the paper's settings (Table 7), build
on the meta device from the config files (no download, no memory) with
LLaVA-7B ~ 7.0 B and SAM ViT-H ~ 0.64 B parameters, and give mmengine's
FlexibleRunner its DeepSpeed / FSDP strategy."""

import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from tool_utils import import_deepspeed_quietly

from mmgres.models.mllm import KNOWN_LLAVA_ARCHS
from mmgres.models.tokenizers import build_word_tokenizer
from mmgres.registry import MODELS, RUNNERS
from mmgres.utils import register_all_modules

register_all_modules(init_default_scope=False)

FULL = sorted(glob.glob('configs/gsva/gsva_llava-*.py'))
TINY = sorted(glob.glob('configs/gsva/gsva_tiny_*.py'))
GREFCOCO_7B = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'
GREFCOCO_13B = 'configs/gsva/gsva_llava-13b_sam-vit-h_8xb2-10e_grefcoco.py'
FSDP_7B = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_fsdp.py'
TINY_DEFAULT = 'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py'


@pytest.fixture(scope='module')
def vicuna_sized_tokenizer(tmp_path_factory):
    # a stand-in with the Llama/Vicuna vocabulary size (32000 entries),
    # loaded from files as the full configs load theirs
    tok = build_word_tokenizer([f'w{i}' for i in range(32000 - 3)])
    assert len(tok) == 32000
    path = str(tmp_path_factory.mktemp('vicuna_sized_tokenizer'))
    tok.save_pretrained(path)
    return dict(type='AutoTokenizer', name_or_path=path, use_fast=True)


def _build_on_meta(path, tokenizer):
    """The config's model with the weights' architectures (pretrained=False)
    and a stand-in tokenizer, on the meta device."""
    model = copy.deepcopy(Config.fromfile(path).model)
    mllm = model.mllm
    arch = osp.basename(mllm.name_or_path)
    assert arch in KNOWN_LLAVA_ARCHS  # the weights' directory is the arch
    mllm.update(pretrained=False, model_cfg=arch, tokenizer=tokenizer)
    model.mask_head.segmentor.update(pretrained=False)
    with DefaultScope.overwrite_default_scope('mmgres'), torch.device('meta'):
        return MODELS.build(model)


def _count(module, trainable=None, lora=None):
    n = 0
    for name, p in module.named_parameters():
        if trainable is not None and p.requires_grad != trainable:
            continue
        if lora is not None and ('.lora_' in name) != lora:
            continue
        n += p.numel()
    return n


def test_there_are_the_paper_configs():
    names = [osp.basename(p) for p in FULL + TINY]
    for name in (
        'gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py',
        'gsva_llava-13b_sam-vit-h_8xb2-10e_grefcoco.py',
        'gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_fsdp.py',
        'gsva_llava-7b_sam-vit-h_8xb2-1e_refzom.py',
        'gsva_llava-7b_sam-vit-h_8xb2-50k_refcoco.py',
        'gsva_tiny_1xb8-8e_synthetic-grefcoco.py',
    ):
        assert name in names


@pytest.mark.parametrize('path', FULL)
def test_full_configs_carry_table_7(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmgres'
    assert cfg.runner_type == 'FlexibleRunner'
    mllm = cfg.model.mllm
    assert mllm.pretrained and mllm.lora_cfg.target_modules == [
        'q_proj',
        'v_proj',
    ]
    assert mllm.lora_cfg.r == (64 if '13b' in path else 8)
    assert set(mllm.trainable_modules) == {'lm_head', 'embed_tokens'}
    seg = cfg.model.mask_head.segmentor
    assert seg.name_or_path == 'facebook/sam-vit-huge'
    assert seg.freeze_image_encoder
    assert mllm.projector == 'linear'  # paper Sec. 3.1: LLaVA v1's Linear
    head = cfg.model.mask_head
    assert (head.loss_mask.loss_weight, head.loss_dice.loss_weight) == (2, 0.5)
    assert cfg.model.loss_lm.loss_weight == 1.0
    assert cfg.model.test_cfg.mode == 'teacher_forced'
    opt = cfg.optim_wrapper.optimizer
    pretrain = 'pretrain' in path
    # Table 7: lr 3e-4 in pre-training, 1e-4 in fine-tuning
    lr = 3e-4 if pretrain else 1e-4
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', lr, 0.0)
    if cfg.strategy.type == 'DeepSpeedStrategy':
        s = cfg.strategy
        assert cfg.optim_wrapper.type == 'DeepSpeedOptimWrapper'
        assert s.zero_optimization.stage == 2 and s.bf16.enabled
        assert s.gradient_accumulation_steps == 10
        assert s.gradient_clipping == 1.0
    else:
        assert cfg.strategy.type == 'FSDPStrategy'
        wrapper = cfg.strategy.model_wrapper
        assert wrapper.sharding_strategy == 'SHARD_GRAD_OP'  # ~ ZeRO-2
        assert wrapper.mixed_precision.param_dtype == 'bfloat16'
        assert cfg.optim_wrapper.accumulative_counts == 10
        assert cfg.optim_wrapper.clip_grad.max_norm == 1.0
    # 2 dialogues of up to k expressions per GPU, kept together by image:
    # k = 5 (paper appendix E), 3 in the release's code
    k = 3 if path.endswith('_release.py') else 5
    assert cfg.model.conversation.max_expressions == k
    loader = cfg.train_dataloader
    assert loader.batch_size == 2 * k
    if pretrain:
        # the mixture: a draw is an image with up to k of its samples, one
        # conversation for VQA; 50k steps (appendix B)
        assert loader.sampler.type == 'RatioMixtureSampler'
        types = [d.type for d in loader.dataset.datasets]
        assert loader.sampler.max_per_image == [
            1 if t == 'LlavaInstructDataset' else k for t in types
        ]
        assert cfg.train_cfg.max_iters == 50000
        return
    assert loader.sampler.type == 'ImageGroupedSampler'
    assert loader.sampler.batch_size == loader.batch_size
    assert (
        loader.sampler.max_per_image == cfg.model.conversation.max_expressions
    )
    if path.endswith('_refcoco.py'):
        assert cfg.train_cfg.max_iters == 50000
    else:
        assert cfg.train_cfg.max_epochs == (1 if 'refzom' in path else 10)


def test_full_7b_config_on_meta_param_counts(vicuna_sized_tokenizer):
    model = _build_on_meta(GREFCOCO_7B, vicuna_sized_tokenizer)
    assert all(p.device.type == 'meta' for p in model.parameters())
    llava = _count(model.mllm, lora=False)
    sam = _count(model.mask_head.segmentor)
    # issue: LLaVA-7B ~ 7.0 B and SAM ViT-H ~ 0.64 B (+-2 %)
    assert abs(llava - 7.0e9) / 7.0e9 < 0.02, llava
    assert abs(sam - 0.64e9) / 0.64e9 < 0.02, sam
    assert (llava, sam) == (7_045_818_368, 641_090_864)
    # trained: LoRA (32 layers x q, v x rank 8 x (4096 + 4096)), the input
    # and output embeddings (32003 x 4096 each), SAM's decoder and psi
    d, vocab = 4096, 32003
    lora = 32 * 2 * 8 * (d + d)
    psi = (d * d + d) + (d * 256 + 256)
    decoder = _count(model.mask_head.segmentor.model.mask_decoder)
    assert _count(model, trainable=True, lora=True) == lora == 4_194_304
    iou_head = _count(
        model.mask_head.segmentor.model.mask_decoder.iou_prediction_head
    )
    assert decoder == 4_058_340 and iou_head == 132_612  # IoU head frozen
    assert (
        _count(model, trainable=True)
        == lora + 2 * vocab * d + decoder - iou_head + psi
        == 288_118_752
    )
    # bf16 weights, as the release trains them
    assert model.mllm.model.lm_head.weight.dtype == torch.bfloat16


def test_full_13b_config_on_meta_lora_rank_64(vicuna_sized_tokenizer):
    model = _build_on_meta(GREFCOCO_13B, vicuna_sized_tokenizer)
    d = 5120
    assert _count(model, lora=True) == 40 * 2 * 64 * (d + d) == 52_428_800
    assert abs(_count(model.mllm, lora=False) - 13.35e9) / 13.35e9 < 0.01


@pytest.mark.parametrize('path', [GREFCOCO_7B, FSDP_7B])
def test_train_tool_builds_the_flexible_runner(path, tmp_path):
    """What tools/train.py does with ``runner_type``: RUNNERS.build(cfg)
    gives mmengine's FlexibleRunner with the config's strategy (the model
    is built later, in ``train()``)."""
    from mmengine._strategy import FSDPStrategy

    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    if cfg.strategy.type == 'DeepSpeedStrategy':
        import_deepspeed_quietly()
    with DefaultScope.overwrite_default_scope('mmgres'):
        runner = RUNNERS.build(cfg)
    assert type(runner).__name__ == 'FlexibleRunner'
    strategy = runner.strategy
    if cfg.strategy.type == 'DeepSpeedStrategy':
        from mmengine._strategy import DeepSpeedStrategy

        assert isinstance(strategy, DeepSpeedStrategy)
        ds = strategy.config
        assert ds['zero_optimization']['stage'] == 2
        assert ds['bf16'] == dict(enabled=True)
        assert ds['gradient_accumulation_steps'] == 10
        # the per-GPU batch that FlexibleRunner reads from the dataloader
        assert ds['train_micro_batch_size_per_gpu'] == 10
        assert strategy.exclude_frozen_parameters
    else:
        assert isinstance(strategy, FSDPStrategy)
        policy = strategy.model_wrapper['auto_wrap_policy']
        assert policy['type'] == 'layer_class_name_wrap_policy'


def test_classic_res_mixture_has_refclef():
    """Paper Sec. 4 / the release's refer_seg data: GSVA's classic-RES
    fine-tuning trains on RefCLEF, RefCOCO, RefCOCO+ and RefCOCOg (unc,
    unc, unc, umd)."""
    cfg = Config.fromfile(
        'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-50k_refcoco.py'
    )
    parts = cfg.train_dataloader.dataset.datasets
    got = [(d.type, d.data_root, d.split_by, d.split) for d in parts]
    assert got == [
        ('RefCLEFDataset', 'data/refclef/', 'unc', 'train'),
        ('RefCOCODataset', 'data/refcoco/', 'unc', 'train'),
        ('RefCOCODataset', 'data/refcoco+/', 'unc', 'train'),
        ('RefCOCODataset', 'data/refcocog/', 'umd', 'train'),
    ]
    assert parts[0].data_prefix.img_path == 'images/saiapr_tc-12/'


def test_tiny_config_keeps_the_papers_dialogue_and_losses():
    """configs/_base_/models/gsva_tiny.py restates, at toy size, what the
    paper fixes in the full model base: k = 5 expressions and the [REJ]
    token (appendix E, Sec. 3.4), the loss 1.0 LM CE + 2.0 BCE + 0.5 Dice
    (Eq. 7) and the teacher-forced test protocol."""
    full = Config.fromfile(GREFCOCO_7B).model
    tiny = Config.fromfile(TINY_DEFAULT).model
    for key in ('type', 'data_preprocessor', 'loss_lm', 'test_cfg'):
        assert tiny[key] == full[key], key
    for key in ('type', 'loss_mask', 'loss_dice'):
        assert tiny.mask_head[key] == full.mask_head[key], key
    conversation = dict(tiny.conversation)
    assert conversation.pop('system') == 'A chat.'  # ours: short sequences
    assert conversation == full.conversation


@pytest.mark.parametrize(
    'name, conversation, test_cfg',
    [
        # paper Table 4, row 2: no [REJ]
        ('no-rej', dict(use_rej=False), dict()),
        # row 3: no [REJ] and one [SEG], i.e. one expression, per dialogue
        (
            'single-seg',
            dict(use_rej=False, max_expressions=1),
            dict(max_expressions=1),
        ),
    ],
)
def test_table_4_ablations_change_only_the_dialogue(
    name, conversation, test_cfg
):
    tiny = Config.fromfile(TINY_DEFAULT)
    path = (
        'configs/gsva/ablations/'
        f'gsva_tiny_1xb8-8e_synthetic-grefcoco_{name}.py'
    )
    ablation = Config.fromfile(path)
    expected = tiny.to_dict()
    expected['model']['conversation'].update(conversation)
    expected['model']['test_cfg'].update(test_cfg)
    assert ablation.to_dict() == expected


@pytest.mark.parametrize('path', [p for p in FULL if 'pretrain' not in p])
def test_fine_tuning_starts_from_the_pre_training(path):
    """Each fine-tuning config (DeepSpeed) names its pre-training's last
    checkpoint, in the work_dir tools/train.py gives that config."""
    cfg = Config.fromfile(path)
    if cfg.strategy.type != 'DeepSpeedStrategy':
        assert cfg.load_from is None  # FSDP cannot read DeepSpeed's
        return
    size = '13b' if '_llava-13b_' in path else 'llama-2-13b'
    size = size if '13b' in path else '7b'
    pre = f'gsva_llava-{size}_sam-vit-h_8xb2-50k_pretrain-mixture'
    assert osp.isfile(osp.join(osp.dirname(path), pre + '.py'))
    pre_cfg = Config.fromfile(osp.join(osp.dirname(path), pre + '.py'))
    last = pre_cfg.train_cfg.max_iters
    assert cfg.load_from == f'work_dirs/{pre}/iter_{last}.pth'
    assert pre_cfg.model.mllm.name_or_path == cfg.model.mllm.name_or_path
