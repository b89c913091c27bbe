"""tools/model_converters/llava2hf.py against LLaVA v1's own computation.

A tiny original-format LLaVA directory is written as the liuhaotian/LLaVA
repository writes one: a random ``LlamaForCausalLM`` whose state dict
already has LLaVA's key names (``model.layers.N``, ``model.embed_tokens``,
``model.norm``, ``lm_head``) plus ``model.mm_projector`` (one
``nn.Linear``, mm_hidden -> hidden), a flat ``config.json`` with
``model_type: "llava"`` and the ``mm_*`` fields, a LLaMA-style
sentencepiece ``tokenizer.model`` (BPE, byte fallback, ``<unk> <s> </s>``
at 0-2) with LLaVA's added tokens, and a random ``CLIPVisionModel``
directory saved with ``save_pretrained``.

The reference output is LLaVA v1's forward written with those modules
directly (``llava/model/llava.py`` of v1, ``llava_arch.py`` later):
``hidden_states[mm_vision_select_layer][:, 1:]`` of CLIP -> mm_projector ->
put at the image positions of the LLaMA input embeddings ->
``LlamaForCausalLM`` logits. The converted directory is run through
``LlavaForConditionalGeneration.from_pretrained`` and through mmgres'
``LlavaMLLM(name_or_path=DST)`` (as the GSVA configs load it, LoRA
included) on the same ids and pixels.
"""

import importlib.util
import io
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tool_utils import REPO, tool_env

spm = pytest.importorskip('sentencepiece')

CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'llava2hf.py')

# float32 on CPU. Both sides run the same modules on the same weights and
# the identity matmul of linear_2 is exact, so the logits come out equal
# (measured max difference 0); rtol 1e-5 is the project's bound and atol
# 1e-6 covers logits near zero (the logits are O(0.1) here).
RTOL, ATOL = 1e-5, 1e-6

HIDDEN, MM_HIDDEN, PATCH, IMAGE = 32, 16, 8, 32
N_PATCHES = (IMAGE // PATCH) ** 2
SENTENCES = [
    'the red circle on the left',
    'all blue squares',
    'two small green triangles at the top',
    'a cat sits on the mat',
    'USER: what is in this image? ASSISTANT: a dog',
]


def _load_converter():
    spec = importlib.util.spec_from_file_location('llava2hf', CONVERTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


conv = _load_converter()


def _write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)


def _write_tokenizer(src, added):
    """A LLaMA-like sentencepiece model plus LLaVA's tokenizer files."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 20),
        model_writer=buf,
        vocab_size=300,
        model_type='bpe',
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        normalization_rule_name='identity',
        hard_vocab_limit=False,
        minloglevel=2,
    )
    with open(osp.join(src, 'tokenizer.model'), 'wb') as f:
        f.write(buf.getvalue())
    sp = spm.SentencePieceProcessor(
        model_file=osp.join(src, 'tokenizer.model')
    )
    n = sp.get_piece_size()
    ids = {t: n + i for i, t in enumerate(added)}
    _write_json(osp.join(src, 'added_tokens.json'), ids)
    _write_json(
        osp.join(src, 'special_tokens_map.json'),
        dict(bos_token='<s>', eos_token='</s>', pad_token='<unk>',
             unk_token='<unk>'),
    )  # fmt: skip
    _write_json(
        osp.join(src, 'tokenizer_config.json'),
        dict(
            add_bos_token=True,
            add_eos_token=False,
            bos_token='<s>',
            eos_token='</s>',
            unk_token='<unk>',
            pad_token=None,
            model_max_length=128,
            padding_side='right',
            tokenizer_class='LlamaTokenizer',
        ),
    )
    return sp, ids


def _clip(seed, layers=3):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    cfg = CLIPVisionConfig(
        hidden_size=MM_HIDDEN,
        intermediate_size=2 * MM_HIDDEN,
        num_hidden_layers=layers,
        num_attention_heads=2,
        image_size=IMAGE,
        patch_size=PATCH,
        projection_dim=MM_HIDDEN,
    )
    return CLIPVisionModel(cfg).eval()


def _make_source(root, variant):
    """Write an original-format LLaVA directory; return what the reference
    needs.

    ``v1``: LLaVA v1 (``llava/model/llava.py``): ``<im_patch>``,
    ``<im_start>``, ``<im_end>`` added, one-Linear projector, sharded
    ``.bin`` with the per-layer ``rotary_emb.inv_freq`` buffers that
    transformers 4.28-4.30 saved; CLIP from a ``CLIPVisionModel`` dir.

    ``lisa``: LISA-like (``llava_arch.py``): ``[SEG]``, ``<im_start>``,
    ``<im_end>`` added, ``model.safetensors`` embedding the CLIP tower
    (``model.vision_tower.vision_tower.*``) and holding SAM keys
    (``model.visual_model.*``) that are not LLaVA's; projector
    ``mlp2x_gelu``; ``--vision-tower`` a ``CLIPModel`` dir (config only).
    """
    from transformers import (
        CLIPConfig,
        CLIPModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    src = osp.join(root, f'{variant}-src')
    clip_dir = osp.join(root, f'{variant}-clip')
    os.makedirs(src)
    added = (
        ['<im_patch>', '<im_start>', '<im_end>']
        if variant == 'v1'
        else ['[SEG]', '<im_start>', '<im_end>']
    )
    sp, added_ids = _write_tokenizer(src, added)
    vocab = sp.get_piece_size() + len(added)

    torch.manual_seed(1)
    llama = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=HIDDEN,
            intermediate_size=2 * HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=vocab,
            max_position_embeddings=128,
            rms_norm_eps=1e-6,
        )
    ).eval()
    # non-trivial norms, so that a swapped or missed norm shows
    with torch.no_grad():
        for name, p in llama.named_parameters():
            if 'norm' in name:
                p.uniform_(0.5, 1.5)
    flat = dict(
        _name_or_path='./checkpoints/llava-tiny',
        architectures=['LlavaLlamaForCausalLM'],
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        hidden_act='silu',
        hidden_size=HIDDEN,
        initializer_range=0.02,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=128,
        max_sequence_length=128,
        model_type='llava',
        num_attention_heads=4,
        num_hidden_layers=2,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        torch_dtype='float32',
        use_cache=True,
        vocab_size=vocab,
        mm_hidden_size=MM_HIDDEN,
        mm_use_im_start_end=True,
        mm_vision_select_layer=-2,
        mm_vision_tower='openai/clip-vit-large-patch14',
        tune_mm_mlp_adapter=False,
        freeze_mm_mlp_adapter=False,
        use_mm_proj=True,
    )
    state = dict(llama.state_dict())
    torch.manual_seed(2)
    if variant == 'v1':
        flat.update(
            transformers_version='4.28.0.dev0', sep_image_conv_front=False
        )
        proj = torch.nn.Linear(MM_HIDDEN, HIDDEN)
        state['model.mm_projector.weight'] = proj.weight.detach()
        state['model.mm_projector.bias'] = proj.bias.detach()
        head_dim = HIDDEN // 4
        inv = 1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)
        for i in range(2):
            state[f'model.layers.{i}.self_attn.rotary_emb.inv_freq'] = inv
        clip = _clip(3)
        clip.save_pretrained(clip_dir)
        keys = sorted(state)
        half = len(keys) // 2
        shards = {
            'pytorch_model-00001-of-00002.bin': keys[:half],
            'pytorch_model-00002-of-00002.bin': keys[half:],
        }
        for name, part in shards.items():
            torch.save({k: state[k] for k in part}, osp.join(src, name))
        _write_json(
            osp.join(src, 'pytorch_model.bin.index.json'),
            dict(
                metadata=dict(total_size=0),
                weight_map={k: n for n, ks in shards.items() for k in ks},
            ),
        )
    else:
        from safetensors.torch import save_file

        flat.update(
            transformers_version='4.31.0',
            mm_projector_type='mlp2x_gelu',
            mm_use_im_patch_token=False,
            mm_vision_select_feature='patch',
            image_aspect_ratio='square',
            num_key_value_heads=4,
            rope_scaling=None,
            pretraining_tp=1,
            out_dim=8,  # LISA's [SEG] projector width: not LLaVA's
        )
        proj = torch.nn.Sequential(
            torch.nn.Linear(MM_HIDDEN, HIDDEN),
            torch.nn.GELU(),
            torch.nn.Linear(HIDDEN, HIDDEN),
        )
        for k, v in proj.state_dict().items():
            state[f'model.mm_projector.{k}'] = v
        clip = _clip(4)  # the file's own tower ...
        # as LISA's files hold it (CLIPVisionTower.vision_tower, a
        # transformers 4 CLIPVisionModel: vision_model.*)
        for k, v in clip.state_dict().items():
            k = k if k.startswith('vision_model.') else f'vision_model.{k}'
            state[f'model.vision_tower.vision_tower.{k}'] = v
        state['model.visual_model.image_encoder.pos_embed'] = torch.zeros(3)
        state['model.text_hidden_fcs.0.0.weight'] = torch.zeros(8, HIDDEN)
        # ... while the directory holds another (same config): the file's
        # tensors must win
        full = CLIPModel(
            CLIPConfig(
                vision_config=_clip(5).config.to_dict(),
                text_config=dict(
                    hidden_size=8,
                    intermediate_size=16,
                    num_hidden_layers=1,
                    num_attention_heads=2,
                    vocab_size=40,
                ),
                projection_dim=8,
            )
        )
        full.save_pretrained(clip_dir)
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            osp.join(src, 'model.safetensors'),
        )
    _write_json(osp.join(src, 'config.json'), flat)
    return dict(
        src=src,
        clip_dir=clip_dir,
        llama=llama,
        clip=clip,
        proj=proj,
        sp=sp,
        added=added_ids,
        vocab=vocab,
        state=state,
    )


@torch.no_grad()
def _reference_logits(ref, ids, image_pos, pix):
    """LLaVA's forward: CLIP hidden_states[-2] without CLS -> projector ->
    the image positions of the LLaMA input embeddings -> logits."""
    feats = ref['clip'](pix, output_hidden_states=True).hidden_states[-2]
    feats = ref['proj'](feats[:, 1:])
    emb = ref['llama'].get_input_embeddings()(ids).clone()
    for b in range(ids.shape[0]):
        emb[b, image_pos[b]] = feats[b]
    return ref['llama'](inputs_embeds=emb).logits


def _prompt_ids(ref, question, placeholder):
    """``<s> USER: <im_start> (N x image) <im_end>\\n{question} ASSISTANT:``
    as LLaVA v1 builds it with ``mm_use_im_start_end``, tokenised chunk by
    chunk with sentencepiece itself (the slow tokenizer's behaviour)."""
    sp, added = ref['sp'], ref['added']
    ids = [1] + sp.encode('USER: ') + [added['<im_start>']]
    start = len(ids)
    ids += [placeholder] * N_PATCHES + [added['<im_end>']]
    ids += sp.encode(f'\n{question} ASSISTANT:')
    return ids, list(range(start, start + N_PATCHES))


@pytest.fixture(scope='module', params=['v1', 'lisa'])
def converted(request, tmp_path_factory):
    root = str(tmp_path_factory.mktemp(f'llava2hf-{request.param}'))
    ref = _make_source(root, request.param)
    dst = osp.join(root, 'hf')
    argv = [ref['src'], dst, '--vision-tower', ref['clip_dir']]
    if request.param == 'lisa':
        argv += ['--drop-prefix', 'model.visual_model.']
        argv += ['--drop-prefix', 'model.text_hidden_fcs.']
    report = conv.main(argv)
    return request.param, ref, dst, report


def _inputs(ref, image_id):
    questions = ['what is the red circle', 'two small cats']
    if 'im_patch' in str(ref['added']):
        src_placeholder = ref['added']['<im_patch>']  # v1: <im_patch>
    else:
        src_placeholder = 0  # later LLaVA: replaced, any id
    src_ids, conv_ids, positions = [], [], []
    for q in questions:
        ids, pos = _prompt_ids(ref, q, src_placeholder)
        src_ids.append(ids)
        conv_ids.append(_prompt_ids(ref, q, image_id)[0])
        positions.append(pos)
    n = min(len(i) for i in src_ids)  # same length: no padding needed
    src_ids = torch.tensor([i[:n] for i in src_ids])
    conv_ids = torch.tensor([i[:n] for i in conv_ids])
    torch.manual_seed(7)
    pix = torch.randn(2, 3, IMAGE, IMAGE)
    return src_ids, conv_ids, positions, pix


def _bare(tower):
    """CLIP tower tensors without ``vision_model.`` (transformers 4 nests
    the transformer there, 5 does not)."""
    return getattr(tower, 'vision_model', tower).state_dict()


def test_key_coverage(converted):
    variant, ref, dst, report = converted
    n_src = len(ref['state'])
    assert report['source_keys'] == n_src
    # every source key converted, or left out on purpose (LISA's SAM and
    # [SEG] projector), none left over
    dropped = 2 if variant == 'lisa' else 0
    assert report['dropped'] == dropped
    assert report['consumed'] + report['dropped'] == n_src
    assert report['checked_buffers'] == (2 if variant == 'v1' else 0)
    # every HF parameter filled: by a source tensor, or by the identity
    # linear_2 (weight, bias) of a one-Linear v1 projector
    assert report['filled'] == report['target_params']
    assert report['identity_params'] == (2 if variant == 'v1' else 0)
    if variant == 'v1':
        assert report['vision_dir_keys_used'] == len(ref['clip'].state_dict())
    else:
        assert report['vision_dir_keys_used'] == 0  # the file's tower

    from transformers import LlavaForConditionalGeneration

    hf = LlavaForConditionalGeneration.from_pretrained(dst)
    # what was written is the source, tensor by tensor
    lm = hf.model.language_model.state_dict()
    for k, v in ref['llama'].model.state_dict().items():
        got = lm[k][: v.shape[0]] if k == 'embed_tokens.weight' else lm[k]
        assert torch.equal(got, v), k
    assert torch.equal(
        hf.lm_head.weight[: ref['vocab']], ref['llama'].lm_head.weight
    )
    tower = _bare(hf.model.vision_tower)
    for k, v in _bare(ref['clip']).items():
        assert torch.equal(tower[k], v), k
    p = hf.model.multi_modal_projector
    if variant == 'v1':
        assert torch.equal(p.linear_1.weight, ref['proj'].weight)
        assert torch.equal(p.linear_1.bias, ref['proj'].bias)
        assert torch.equal(p.linear_2.weight, torch.eye(HIDDEN))
        assert not p.linear_2.bias.any()
    else:
        assert torch.equal(p.linear_2.weight, ref['proj'][2].weight)


def test_config_and_tokenizer(converted):
    variant, ref, dst, report = converted
    from transformers import AutoTokenizer, LlavaConfig

    cfg = LlavaConfig.from_pretrained(dst)
    image_id = report['image_token_id']
    assert image_id == ref['vocab']  # appended after the existing ids
    assert cfg.image_token_id == image_id
    assert cfg.text_config.vocab_size == ref['vocab'] + 1
    assert cfg.vision_feature_layer == -2
    assert cfg.vision_feature_select_strategy == 'default'  # CLS dropped
    assert cfg.image_seq_length == N_PATCHES
    assert cfg.projector_hidden_act == (
        'linear' if variant == 'v1' else 'gelu'
    )
    record = cfg.llava_v1_source
    assert record['mm_use_im_start_end'] is True
    assert record['added_tokens'] == ref['added']

    tok = AutoTokenizer.from_pretrained(dst)
    assert tok.is_fast
    # added tokens keep their ids, <image> is new
    for t, i in ref['added'].items():
        assert tok.convert_tokens_to_ids(t) == i
    assert tok.convert_tokens_to_ids('<image>') == image_id
    # same ids as sentencepiece, chunk by chunk around the added tokens
    text = 'USER: <im_start><image><im_end>\nwhat is the red circle ASSISTANT:'
    sp, added = ref['sp'], ref['added']
    expected = (
        [1]
        + sp.encode('USER: ')
        + [added['<im_start>'], image_id, added['<im_end>']]
        + sp.encode('\nwhat is the red circle ASSISTANT:')
    )
    assert tok(text)['input_ids'] == expected
    for s in SENTENCES + ['unseen words: xyzzy 42 é']:
        assert tok(s)['input_ids'] == [1] + sp.encode(s)


def _check(name, got, want, vocab):
    torch.testing.assert_close(got[..., :vocab], want, rtol=RTOL, atol=ATOL)
    diff = (got[..., :vocab] - want).abs()
    rel = (diff / want.abs().clamp(min=1e-12)).max()
    print(f'{name}: max abs {diff.max():.3g}, max rel {rel:.3g}')


def test_logits_match_llava_v1(converted):
    variant, ref, dst, report = converted
    from transformers import LlavaForConditionalGeneration

    image_id = report['image_token_id']
    src_ids, conv_ids, pos, pix = _inputs(ref, image_id)
    want = _reference_logits(ref, src_ids, pos, pix)

    hf = LlavaForConditionalGeneration.from_pretrained(dst).eval()
    with torch.no_grad():
        # the one-Linear projector through HF's two-layer one is exact
        feats = torch.randn(2, N_PATCHES, MM_HIDDEN)
        if variant == 'v1':
            assert torch.equal(
                hf.model.multi_modal_projector(feats), ref['proj'](feats)
            )
        got = hf(input_ids=conv_ids, pixel_values=pix).logits
    _check(f'{variant} HF', got, want, ref['vocab'])
    # the added <image> row is the mean of the others: its logit is the
    # mean logit, never the greedy choice
    torch.testing.assert_close(
        got[..., image_id], got[..., : ref['vocab']].mean(-1), rtol=1e-4,
        atol=1e-6,
    )  # fmt: skip


def test_logits_match_through_llava_mllm(converted):
    """As the GSVA configs load it: ``LlavaMLLM(name_or_path=DST)``, which
    also adds [SEG]/[REJ] and LoRA (zero-initialised B: no change)."""
    variant, ref, dst, report = converted
    from mmgres.models.mllm import LlavaMLLM

    # v1: LLaVA v1's one Linear (the paper's projector, LlavaMLLM's
    # default), taken bit for bit from linear_1; LISA's LLaVA-1.5 base has
    # the two-layer MLP
    projector = 'linear' if variant == 'v1' else 'mlp2x_gelu'
    mllm = LlavaMLLM(name_or_path=dst, projector=projector).eval()
    proj = mllm.model.model.multi_modal_projector
    if variant == 'v1':
        assert type(proj) is torch.nn.Linear
        assert torch.equal(proj.weight, ref['proj'].weight)
        assert torch.equal(proj.bias, ref['proj'].bias)
    else:
        assert torch.equal(proj.linear_2.weight, ref['proj'][2].weight)
    image_id = report['image_token_id']
    assert mllm.image_token_id == image_id
    assert mllm.num_image_tokens == N_PATCHES
    src_ids, conv_ids, pos, pix = _inputs(ref, image_id)
    want = _reference_logits(ref, src_ids, pos, pix)
    with torch.no_grad():
        got = mllm(conv_ids, torch.ones_like(conv_ids), pix)['logits']
    assert got.shape[-1] >= ref['vocab'] + 2  # <image>, [SEG]/[REJ] added
    _check(f'{variant} LlavaMLLM', got, want, ref['vocab'])


# ------------------------------------------------------------ bad inputs
@pytest.fixture(scope='module')
def v1_source(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('llava2hf-bad'))
    return _make_source(root, 'v1'), root


def _rewrite(ref, root, name, edit_state=None, edit_cfg=None):
    """Copy the v1 source with its state dict / config edited."""
    import shutil

    src = osp.join(root, name)
    shutil.copytree(ref['src'], src)
    for f in os.listdir(src):
        if f.startswith('pytorch_model'):
            os.remove(osp.join(src, f))
    state = dict(ref['state'])
    if edit_state:
        edit_state(state)
    torch.save(state, osp.join(src, 'pytorch_model.bin'))
    if edit_cfg:
        with open(osp.join(src, 'config.json')) as f:
            cfg = json.load(f)
        edit_cfg(cfg)
        _write_json(osp.join(src, 'config.json'), cfg)
    return src


def test_bad_inputs_name_the_problem(v1_source):
    ref, root = v1_source
    clip = ref['clip_dir']
    out = osp.join(root, 'out')
    err = conv.ConversionError
    # a file of another model: the CLIP directory given as the LLaVA one
    with pytest.raises(err, match="model_type 'clip_vision_model'"):
        conv.convert(clip, out, vision_tower=clip)
    # missing projector bias
    src = _rewrite(
        ref, root, 'nobias', lambda s: s.pop('model.mm_projector.bias')
    )
    with pytest.raises(err, match=r'model\.mm_projector\.bias'):
        conv.convert(src, out, vision_tower=clip)
    # a missing LLaMA layer tensor
    src = _rewrite(
        ref,
        root,
        'nolayer',
        lambda s: s.pop('model.layers.1.mlp.up_proj.weight'),
    )
    with pytest.raises(err, match=r'layers\.1\.mlp\.up_proj\.weight'):
        conv.convert(src, out, vision_tower=clip)
    # keys of another model are not silently dropped
    src = _rewrite(
        ref,
        root,
        'extra',
        lambda s: s.__setitem__('model.visual_model.x', torch.zeros(1)),
    )
    with pytest.raises(err, match=r'model\.visual_model\.x.*--drop-prefix'):
        conv.convert(src, out, vision_tower=clip)
    # a tower of another width than the projector reads
    src = _rewrite(
        ref, root, 'width', edit_cfg=lambda c: c.update(mm_hidden_size=8)
    )
    with pytest.raises(err, match='mm_hidden_size 8'):
        conv.convert(src, out, vision_tower=clip)
    # no tower at all
    with pytest.raises(err, match='--vision-tower'):
        conv.convert(ref['src'], out)
    # a scaled RoPE the config does not say
    src = _rewrite(
        ref,
        root,
        'rope',
        lambda s: s['model.layers.0.self_attn.rotary_emb.inv_freq'].mul_(0.5),
    )
    with pytest.raises(err, match=r'layers\.0\.self_attn\.rotary_emb'):
        conv.convert(src, out, vision_tower=clip)


def test_cli_help_and_run(v1_source, capsys):
    ref, root = v1_source
    env = tool_env()
    proc = subprocess.run(
        [sys.executable, CONVERTER, '--help'],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'LlavaForConditionalGeneration' in proc.stdout
    assert '--vision-tower' in proc.stdout
    # the conversion itself through main() (the CLI's argv), in bfloat16
    dst = osp.join(root, 'cli-out')
    argv = [ref['src'], dst, '--vision-tower', ref['clip_dir']]
    conv.main(argv + ['--dtype', 'bfloat16'])
    assert 'filled=' in capsys.readouterr().out
    from transformers import LlavaForConditionalGeneration

    hf = LlavaForConditionalGeneration.from_pretrained(dst)
    assert hf.lm_head.weight.dtype == torch.bfloat16
    assert hf.model.vision_tower.dtype == torch.bfloat16
