"""tools/model_converters/gsva2mmgres.py on a tiny GSVA release.

The release cannot run here, so a state dict is written in its layout
(GSVA's ``LisaGSVAForCausalLM`` wrapped by peft, as ``zero_to_fp32`` saves
it: ``base_model.model.`` + LLaMA / CLIP / one-Linear projector /
segment-anything SAM / ``text_hidden_fcs``), with tiny sizes and random
values. The target is the 7B GSVA config with the base LLaVA and SAM
directories pointed at tiny HF ones, as a user would set ``llava_path`` and
``sam_path``.
"""

import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tool_utils import REPO, tool_env

CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'gsva2mmgres.py')
BASE_CFG = osp.join(
    REPO, 'configs', 'gsva', 'gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'
)
D, INTER, LAYERS, R = 32, 64, 2, 4  # tiny LLaMA, LoRA rank 4
CLIP = dict(
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=32,
    patch_size=8,
    projection_dim=16,
)
SAM_SIZE = 64


def _load_converter():
    spec = importlib.util.spec_from_file_location('gsva2mmgres', CONVERTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


conv = _load_converter()


def _base_dirs(root):
    """A tiny base LLaVA (as llava2hf.py writes it: ``<image>`` appended to
    a base that has ``<im_start>``/``<im_end>``, as LLaVA-Lightning v1)
    and a tiny HF SAM. Returns (llava_dir, sam_dir, base vocab size)."""
    from tokenizers import AddedToken
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        SamConfig,
        SamModel,
    )

    from mmgres.datasets.synthetic import SYNTHETIC_VOCAB
    from mmgres.models.tokenizers import build_word_tokenizer
    from mmgres.models.utils import GSVAConversationBuilder
    from mmgres.testing import tiny_sam_cfg

    tok = build_word_tokenizer(
        [*GSVAConversationBuilder().words(), *SYNTHETIC_VOCAB]
    )
    tok.add_tokens(
        [
            AddedToken(t, normalized=False, special=True)
            for t in (conv.IM_START, conv.IM_END)
        ],
        special_tokens=True,
    )
    base = len(tok)
    tok.add_tokens(
        [AddedToken('<image>', normalized=False, special=True)],
        special_tokens=True,
    )
    llava_dir = osp.join(root, 'llava')
    text = dict(
        model_type='llama',
        hidden_size=D,
        intermediate_size=INTER,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=len(tok),
        max_position_embeddings=512,
    )
    cfg = LlavaConfig(
        text_config=text,
        vision_config=dict(model_type='clip_vision_model', **CLIP),
        image_token_index=base,
        image_seq_length=16,
        vision_feature_layer=-2,
        vision_feature_select_strategy='default',
        projector_hidden_act='linear',  # llava2hf's v1 projector
        tie_word_embeddings=False,
    )
    llava = LlavaForConditionalGeneration(cfg)
    with torch.no_grad():  # llava2hf's v1 projector: linear_2 = identity
        llava.model.multi_modal_projector.linear_2.weight.copy_(torch.eye(D))
        llava.model.multi_modal_projector.linear_2.bias.zero_()
    llava.save_pretrained(llava_dir)
    tok.save_pretrained(llava_dir)
    sam_dir = osp.join(root, 'sam')
    SamModel(SamConfig(**tiny_sam_cfg(SAM_SIZE, 8, 32))).save_pretrained(
        sam_dir
    )
    return llava_dir, sam_dir, base


def _release(llava_dir, sam_dir, base, peft_base_layer=False, seed=0):
    """The release's state dict (GSVA's key names, tiny shapes)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, SamModel

    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    sd = {}
    rows = base + 2  # [SEG], [REJ]; <im_start>/<im_end> are in the base
    sd['model.embed_tokens.weight'] = rnd(rows, D)
    sd['lm_head.weight'] = rnd(rows, D)
    sd['model.norm.weight'] = rnd(D)
    for i in range(LAYERS):
        p = f'model.layers.{i}.'
        for n in ('q', 'k', 'v', 'o'):
            name = f'{p}self_attn.{n}_proj'
            wkey = '.base_layer.weight' if peft_base_layer else '.weight'
            sd[name + (wkey if n in 'qv' else '.weight')] = rnd(D, D)
            if n in 'qv':
                sd[f'{name}.lora_A.default.weight'] = rnd(R, D)
                sd[f'{name}.lora_B.default.weight'] = rnd(D, R)
        sd[p + 'mlp.gate_proj.weight'] = rnd(INTER, D)
        sd[p + 'mlp.up_proj.weight'] = rnd(INTER, D)
        sd[p + 'mlp.down_proj.weight'] = rnd(D, INTER)
        sd[p + 'input_layernorm.weight'] = rnd(D)
        sd[p + 'post_attention_layernorm.weight'] = rnd(D)
    # transformers < 4.31 saved LLaMA's rotary buffer
    hd = D // 4
    sd['model.layers.0.self_attn.rotary_emb.inv_freq'] = 1.0 / 10000 ** (
        torch.arange(0, hd, 2).float() / hd
    )
    sd['model.mm_projector.weight'] = rnd(D, CLIP['hidden_size'])
    sd['model.mm_projector.bias'] = rnd(D)
    clip = CLIPVisionModel(CLIPVisionConfig(**CLIP)).state_dict()
    for k, v in clip.items():
        sd[conv.CLIP_PREFIX + k] = rnd(*v.shape)
    sd[conv.CLIP_PREFIX + 'embeddings.position_ids'] = torch.arange(17)[None]
    # SAM in segment-anything names: sam2mmgres' table read backwards
    sam = SamModel.from_pretrained(sam_dir)
    shapes = {k: v.shape for k, v in sam.state_dict().items()}
    sam_cfg = sam.config.to_dict()
    for src, dsts in conv.sam2mmgres.sam_key_table(sam_cfg).items():
        sd[conv.SAM_PREFIX + src] = rnd(*shapes[dsts[0]])
    sd[conv.PSI_PREFIX + '0.weight'] = rnd(D, D)
    sd[conv.PSI_PREFIX + '0.bias'] = rnd(D)
    sd[conv.PSI_PREFIX + '2.weight'] = rnd(32, D)
    sd[conv.PSI_PREFIX + '2.bias'] = rnd(32)
    return {conv.PREFIX + k: v for k, v in sd.items()}


def _config(
    root, llava_dir, sam_dir, data_root='data/none', base_cfg=BASE_CFG
):
    path = osp.join(root, f'tiny_from_{osp.basename(base_cfg)}')
    with open(path, 'w') as f:
        f.write(
            f"""_base_ = [{base_cfg!r}]
model = dict(
    mllm=dict(name_or_path={llava_dir!r}, torch_dtype=None,
              gradient_checkpointing=False, lora_cfg=dict(r={R})),
    mask_head=dict(segmentor=dict(name_or_path={sam_dir!r},
                                  torch_dtype=None)),
    conversation=dict(system='A chat.'),
)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root={data_root!r}, ann_file='instances.json',
                 refs_file='grefs(unc).json', split='val',
                 data_prefix=dict(img_path='images/'),
                 pipeline=test_pipeline))
val_dataloader = test_dataloader
# one CPU process: the plain runner instead of the DeepSpeed one
runner_type = 'Runner'
"""
        )
    return path


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('gsva2mmgres'))
    llava_dir, sam_dir, base = _base_dirs(root)
    src = osp.join(root, 'gsva-tiny.bin')
    release = _release(llava_dir, sam_dir, base)
    torch.save(release, src)
    cfg = _config(root, llava_dir, sam_dir)
    return dict(
        root=root,
        src=src,
        cfg=cfg,
        base=base,
        release=release,
        llava=llava_dir,
        sam=sam_dir,
    )


def _convert(setup, name, **kw):
    dst = osp.join(setup['root'], name)
    report = conv.convert(setup['src'], dst, config=setup['cfg'], **kw)
    return torch.load(dst, weights_only=True), report


def test_release_config_takes_the_same_file(setup):
    """The release config (<im_start>/<im_end> wrap, which LLaVA v1's
    tokenizer already has) builds the same keys and token ids."""
    cfg = _config(
        setup['root'],
        setup['llava'],
        setup['sam'],
        base_cfg=BASE_CFG.replace('_grefcoco.py', '_grefcoco_release.py'),
    )
    dst = osp.join(setup['root'], 'release.pth')
    report = conv.convert(setup['src'], dst, config=cfg)
    assert report['consumed'] == report['source_keys']
    ours = torch.load(dst, weights_only=True)['state_dict']
    kept, _ = _convert(setup, 'kept_for_release.pth')
    assert list(ours) == list(kept['state_dict'])
    for key, value in ours.items():
        assert torch.equal(value, kept['state_dict'][key]), key


def test_key_coverage_and_values(setup):
    ckpt, report = _convert(setup, 'kept.pth')
    sd, rel = ckpt['state_dict'], setup['release']
    model = conv.build_target(setup['cfg'])
    # every release key consumed, every parameter of our model filled
    assert report['consumed'] == report['source_keys'] == len(rel)
    assert list(sd) == list(model.state_dict())
    assert report['lora'] == 'kept' and report['lora_r'] == R
    assert ckpt['meta']['converted_by'].endswith('gsva2mmgres.py')
    P = conv.PREFIX
    lm = 'mllm.model.model.language_model.'
    q = 'layers.1.self_attn.q_proj'
    assert torch.equal(
        sd[f'{lm}{q}.base_layer.weight'], rel[f'{P}model.{q}.weight']
    )
    assert torch.equal(
        sd[f'{lm}{q}.lora_B.default.weight'],
        rel[f'{P}model.{q}.lora_B.default.weight'],
    )
    assert torch.equal(
        sd['mllm.model.model.vision_tower.encoder.layers.1.mlp.fc2.weight'],
        rel[P + conv.CLIP_PREFIX + 'encoder.layers.1.mlp.fc2.weight'],
    )
    # LLaVA v1's one-Linear mm_projector onto our one Linear (paper Sec.
    # 3.1: a linear projector), no identity layer
    proj = 'mllm.model.model.multi_modal_projector.'
    assert {k for k in sd if k.startswith(proj)} == {
        proj + 'weight',
        proj + 'bias',
    }
    for p in ('weight', 'bias'):
        assert torch.equal(sd[proj + p], rel[P + f'model.mm_projector.{p}'])
    sam = 'mask_head.segmentor.model.'
    assert torch.equal(
        sd[sam + 'vision_encoder.layers.1.attn.qkv.weight'],
        rel[P + 'model.visual_model.image_encoder.blocks.1.attn.qkv.weight'],
    )
    assert torch.equal(
        sd[sam + 'mask_decoder.upscale_conv2.weight'],
        rel[P + 'model.visual_model.mask_decoder.output_upscaling.3.weight'],
    )
    assert torch.equal(
        sd['mask_head.proj.layers.1.bias'], rel[P + conv.PSI_PREFIX + '2.bias']
    )
    # token rows: base rows stay, [SEG]/[REJ] move one up past <image>,
    # <image> is the mean of the base rows
    b = setup['base']
    tok = model.mllm.tokenizer
    assert (
        tok.convert_tokens_to_ids('<image>'),
        model.mllm.seg_token_id,
        model.mllm.rej_token_id,
    ) == (b, b + 1, b + 2)
    assert report['moved_tokens'] == {
        '[SEG]': (b, b + 1),
        '[REJ]': (b + 1, b + 2),
    }
    assert report['mean_rows'] == ['<image>']
    for key, rkey in (
        (lm + 'embed_tokens.weight', 'model.embed_tokens.weight'),
        ('mllm.model.lm_head.weight', 'lm_head.weight'),
    ):
        got, src = sd[key], rel[P + rkey]
        assert got.shape == (b + 3, D)
        assert torch.equal(got[:b], src[:b])
        assert torch.equal(got[b + 1], src[b])  # [SEG]
        assert torch.equal(got[b + 2], src[b + 1])  # [REJ]
        assert torch.allclose(got[b], src[:b].mean(0))


def test_merge_lora_hand_checked(setup, tmp_path):
    rel = dict(setup['release'])
    key = conv.PREFIX + 'model.layers.0.self_attn.v_proj.'
    # W = 0; A picks input 3 (A[0, 3] = 1); B writes 0.5 to output 5 from
    # rank 0: B A has one non-zero, [5, 3] = 0.5; alpha / r = 16 / 4
    rel[key + 'weight'] = torch.zeros(D, D)
    rel[key + 'lora_A.default.weight'] = torch.zeros(R, D)
    rel[key + 'lora_A.default.weight'][0, 3] = 1.0
    rel[key + 'lora_B.default.weight'] = torch.zeros(D, R)
    rel[key + 'lora_B.default.weight'][5, 0] = 0.5
    src = str(tmp_path / 'r.bin')
    torch.save(rel, src)
    dst = str(tmp_path / 'merged.pth')
    report = conv.convert(src, dst, config=setup['cfg'], merge_lora=True)
    sd = torch.load(dst, weights_only=True)['state_dict']
    w = sd['mllm.model.model.language_model.layers.0.self_attn.v_proj.weight']
    want = torch.zeros(D, D)
    want[5, 3] = 2.0  # 4 * 0.5
    assert torch.equal(w, want)
    assert report['lora'] == 'merged' and report['consumed'] == len(rel)
    assert not any('lora_' in k for k in sd)
    # the other merged layers: W + 4 B A of the release
    q = conv.PREFIX + 'model.layers.1.self_attn.q_proj.'
    ref = rel[q + 'weight'] + 4.0 * (
        rel[q + 'lora_B.default.weight'] @ rel[q + 'lora_A.default.weight']
    )
    got = sd[
        'mllm.model.model.language_model.layers.1.self_attn.q_proj.weight'
    ]
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)


def test_newer_peft_names(setup, tmp_path):
    rel = _release(setup['llava'], setup['sam'], setup['base'], True, seed=1)
    src = str(tmp_path / 'r.bin')
    torch.save(rel, src)
    report = conv.convert(src, str(tmp_path / 'o.pth'), config=setup['cfg'])
    assert report['consumed'] == len(rel)


def _expect_error(setup, tmp_path, state, match, **kw):
    src = str(tmp_path / 'bad.bin')
    torch.save(state, src)
    with pytest.raises(ValueError, match=match):
        conv.convert(src, str(tmp_path / 'o.pth'), config=setup['cfg'], **kw)


def test_bad_inputs_name_the_problem(setup, tmp_path):
    rel = setup['release']
    P = conv.PREFIX
    # InstanceVG: mmdet 2.x training checkpoint
    ivg = dict(
        state_dict={'module.vis_enc.beit3.text_embed.weight': torch.zeros(2)},
        optimizer={},
    )
    _expect_error(setup, tmp_path, ivg, 'InstanceVG')
    # a plain LLaVA file (no peft prefix, no SAM)
    plain = {
        k[len(P) :]: v
        for k, v in rel.items()
        if 'visual_model' not in k and 'text_hidden' not in k
    }
    _expect_error(setup, tmp_path, plain, 'plain LLaVA')
    # another base LLaVA: one token row more
    more = dict(rel)
    for k in ('model.embed_tokens.weight', 'lm_head.weight'):
        more[P + k] = torch.cat([rel[P + k], rel[P + k][:1]])
    _expect_error(setup, tmp_path, more, 'another base LLaVA')
    # a key nothing reads
    extra = dict(rel, **{P + 'model.extra.weight': torch.zeros(1)})
    _expect_error(setup, tmp_path, extra, 'not converted.*model.extra')
    # a wrong rotary buffer
    rope = dict(rel)
    rope[P + 'model.layers.0.self_attn.rotary_emb.inv_freq'] = torch.ones(4)
    _expect_error(setup, tmp_path, rope, 'inv_freq')
    # LoRA alpha that the config does not have
    _expect_error(setup, tmp_path, rel, 'LoRA scaling', lora_alpha=8.0)
    # the config builds no LoRA: the user must merge
    src = str(tmp_path / 'ok.bin')
    torch.save(rel, src)
    with pytest.raises(ValueError, match='--merge-lora'):
        conv.convert(
            src,
            str(tmp_path / 'o.pth'),
            config=setup['cfg'],
            cfg_options={'model.mllm.lora_cfg': None},
        )


def test_convert_then_tools_test(setup):
    from mmgres.datasets.synthetic import generate_synthetic_grefcoco

    data = osp.join(setup['root'], 'data')
    generate_synthetic_grefcoco(
        data, num_images=dict(val=2), img_size=64, progress=False
    )
    cfg = _config(setup['root'], setup['llava'], setup['sam'], data + '/')
    dst = osp.join(setup['root'], 'cli.pth')
    env = tool_env()
    proc = subprocess.run(
        [sys.executable, CONVERTER, setup['src'], dst, '--config', cfg],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'lora=kept' in proc.stdout
    proc = subprocess.run(
        [
            sys.executable,
            'tools/test.py',
            cfg,
            dst,
            '--work-dir',
            osp.join(setup['root'], 'work'),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert 'gres/gIoU' in proc.stdout
    # a bad file through the CLI: exit 1 and the reason, no traceback
    bad = osp.join(setup['root'], 'bad.bin')
    torch.save({'image_encoder.pos_embed': torch.zeros(1)}, bad)
    proc = subprocess.run(
        [sys.executable, CONVERTER, bad, dst, '--config', cfg],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and 'sam2mmgres.py' in proc.stderr
