# Copyright (c) mmgres contributors. All rights reserved.
"""Convert an original-format LLaVA v1 / LLaVA-Llama-2 / LISA directory to
an HF ``LlavaForConditionalGeneration`` directory.

Input (the liuhaotian/LLaVA repository's format, read from its code:
``llava/model/llava.py`` of v1, ``llava_arch.py``,
``multimodal_projector/builder.py``):

* ``config.json``: a flat LLaMA config with ``model_type: "llava"`` and the
  ``mm_*`` fields (``mm_hidden_size``, ``mm_vision_tower``,
  ``mm_vision_select_layer``, ``mm_use_im_start_end``, ...);
* weights: ``pytorch_model*.bin`` or ``model*.safetensors`` (one file, or
  shards with their index json) holding ``model.embed_tokens``,
  ``model.layers.N.*``, ``model.norm``, ``lm_head`` and
  ``model.mm_projector.{weight,bias}`` (one ``nn.Linear``, projector type
  ``'linear'``; ``'mlp2x_gelu'`` files hold ``model.mm_projector.{0,2}``);
* a LLaMA sentencepiece tokenizer (``tokenizer.model``) with the tokens
  LLaVA / LISA added (``added_tokens.json``).

The CLIP tower is not in LLaVA v1's files (the repository loads it by name,
``mm_vision_tower``); ``--vision-tower`` names a local HF directory of it
(``openai/clip-vit-large-patch14``, ``CLIPModel`` or ``CLIPVisionModel``
layout). Files that embed the tower (``model.vision_tower.vision_tower.*``,
as LISA saves it) use their own tensors.

Output: an HF directory (``config.json``, safetensors, tokenizer) that
``LlavaForConditionalGeneration.from_pretrained`` and
``mmgres.models.mllm.LlavaMLLM(name_or_path=DST)`` load. How the v1 model
is represented exactly:

* the one-Linear projector goes to ``multi_modal_projector.linear_1``, with
  ``projector_hidden_act='linear'`` (identity) and ``linear_2`` set to the
  identity matrix and a zero bias, so that HF's two-layer module computes
  it: ``y @ I + 0`` is exact in any floating point type (one non-zero
  product per output), unless the matmul rounds its inputs (TF32), which
  then rounds every other matmul too. ``LlavaMLLM(projector='linear')``
  (GSVA's configs) checks that form and takes ``linear_1`` as its one
  ``nn.Linear``, bit for bit;
* ``mm_vision_select_layer`` becomes ``vision_feature_layer``;
  ``mm_vision_select_feature='patch'`` (the v1 default: CLS dropped)
  becomes ``vision_feature_select_strategy='default'``, ``'cls_patch'``
  becomes ``'full'``;
* HF LLaVA marks the image positions with an image token id, where LLaVA
  v1 used ``<im_patch>`` and later LLaVA a negative index: ``<image>`` is
  added as a special token after the existing ones (all ids kept), with
  input and output embedding rows set to the mean of the existing rows (as
  LLaVA initialises its own added tokens); its logit is then the mean of
  the others, never the greedy choice;
* the fields that the HF config has no place for (``mm_use_im_start_end``
  and the ``<im_start>``/``<im_end>`` ids, ...) are kept under
  ``llava_v1_source`` in ``config.json``: a pipeline for a model trained
  with ``mm_use_im_start_end`` must wrap the image tokens in them itself.

Example::

    python tools/model_converters/llava2hf.py \\
        checkpoints/LLaVA-Lightning-7B-v1-1 \\
        data/pretrained/llava-v1-vicuna-7b \\
        --vision-tower checkpoints/clip-vit-large-patch14

Everything is read from local files; nothing is downloaded.
"""

import argparse
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional

import torch
from torch import Tensor

# HF LLaVA's image placeholder (LLaVA's DEFAULT_IMAGE_TOKEN)
IMAGE_TOKEN = '<image>'

# Weight files in the order ``transformers`` looks for them.
WEIGHT_INDEXES = (
    'model.safetensors.index.json',
    'pytorch_model.bin.index.json',
)
WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')

# Where LLaVA code that keeps the tower as a module saves it: the newer
# ``CLIPVisionTower`` wraps a ``CLIPVisionModel`` (``.vision_tower``).
EMBEDDED_TOWER_PREFIXES = (
    'model.vision_tower.vision_tower.',
    'model.vision_tower.',
)

# Config fields of the flat LLaVA config that are not LLaMA's; they go to
# ``llava_v1_source``. Anything ``mm_*`` goes there too.
LLAVA_ONLY_FIELDS = (
    'use_mm_proj',
    'tune_mm_mlp_adapter',
    'freeze_mm_mlp_adapter',
    'image_aspect_ratio',
    'image_grid_pinpoints',
    'tokenizer_model_max_length',
    'tokenizer_padding_side',
    'sep_image_conv_front',
    'unfreeze_mm_vision_tower',
)
# Bookkeeping fields of the flat config that the new config writes itself.
DROPPED_FIELDS = (
    'architectures',
    'model_type',
    '_name_or_path',
    'transformers_version',
    'torch_dtype',
    'dtype',
)

DTYPES = dict(
    float32=torch.float32,
    float16=torch.float16,
    bfloat16=torch.bfloat16,
)


class ConversionError(ValueError):
    """The input is not an original-format LLaVA directory that this
    converter can convert exactly."""


# ------------------------------------------------------------------ reading
def _read_json(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _load_file(path: str) -> Dict[str, Tensor]:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        return load_file(path, device='cpu')
    try:
        # memory-mapped: a 13B file is not read twice into memory
        return torch.load(
            path, map_location='cpu', weights_only=True, mmap=True
        )
    except RuntimeError:
        # files written by torch < 1.6 (not zip) cannot be mapped
        return torch.load(path, map_location='cpu', weights_only=True)


def load_weights(directory: str) -> Dict[str, Tensor]:
    """Read a ``transformers``-style weight set (one file, or the shards an
    index json lists) into one state dict.

    Args:
        directory (str): The model directory.

    Returns:
        dict[str, Tensor]: All tensors, by key.

    Raises:
        ConversionError: No weight file, a shard missing, a key in two
            shards, or a file that is not a flat state dict.
    """
    files: List[str] = []
    for name in WEIGHT_INDEXES:
        index = osp.join(directory, name)
        if osp.isfile(index):
            shards = sorted(set(_read_json(index)['weight_map'].values()))
            files = [osp.join(directory, s) for s in shards]
            missing = [f for f in files if not osp.isfile(f)]
            if missing:
                raise ConversionError(
                    f'{index} lists shards that are not there: {missing}'
                )
            break
    else:
        files = [
            osp.join(directory, n)
            for n in WEIGHT_FILES
            if osp.isfile(osp.join(directory, n))
        ][:1]
    if not files:
        raise ConversionError(
            f'No weights in {directory!r}: expected one of '
            f'{WEIGHT_FILES + WEIGHT_INDEXES}.'
        )
    state: Dict[str, Tensor] = {}
    for path in files:
        part = _load_file(path)
        if not isinstance(part, dict) or not all(
            isinstance(v, Tensor) for v in part.values()
        ):
            raise ConversionError(
                f'{path} is not a flat state dict (a training checkpoint '
                'or a wrapped file?).'
            )
        twice = state.keys() & part.keys()
        if twice:
            raise ConversionError(
                f'{path} repeats keys of another shard: {sorted(twice)[:5]}'
            )
        state.update(part)
    return state


def _few(keys, n: int = 8) -> str:
    keys = sorted(keys)
    more = f' ... ({len(keys)} in all)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


# ------------------------------------------------------------------ config
def read_llava_config(src: str) -> dict:
    """Read and check the flat LLaVA ``config.json`` of ``src``."""
    path = osp.join(src, 'config.json')
    if not osp.isfile(path):
        raise ConversionError(f'{src!r} has no config.json.')
    cfg = _read_json(path)
    if 'text_config' in cfg:
        raise ConversionError(
            f'{path} is already an HF LlavaConfig (it has text_config); '
            'load the directory with from_pretrained directly.'
        )
    if cfg.get('model_type') != 'llava':
        raise ConversionError(
            f'{path} has model_type {cfg.get("model_type")!r}, not '
            "'llava': not an original-format LLaVA checkpoint."
        )
    need = ('mm_hidden_size', 'hidden_size', 'num_hidden_layers')
    missing = [k for k in need if k not in cfg]
    if missing:
        raise ConversionError(
            f'{path} lacks {missing}: a language-model-only or unfinished '
            'LLaVA checkpoint, nothing to convert.'
        )
    return cfg


def split_config(cfg: dict) -> tuple:
    """Split the flat config into LLaMA kwargs and LLaVA's own fields."""
    from transformers import LlamaConfig

    llama_fields = set(LlamaConfig().to_dict())
    text, llava = {}, {}
    for key, value in cfg.items():
        if key in DROPPED_FIELDS:
            continue
        if key.startswith('mm_') or key in LLAVA_ONLY_FIELDS:
            llava[key] = value
        elif key in llama_fields or key in ('rope_theta', 'rope_scaling'):
            text[key] = value
        else:
            # e.g. max_sequence_length, LISA's out_dim: kept, not used
            llava[key] = value
    text['model_type'] = 'llama'
    return text, llava


# ------------------------------------------------------------- vision tower
def read_vision_tower(directory: str) -> tuple:
    """Read the CLIP vision config and the ``vision_model.*`` tensors of a
    local HF CLIP directory (``CLIPModel`` or ``CLIPVisionModel``).

    Returns:
        tuple: ``(vision_config dict, {key without 'vision_model.':
        tensor}, [keys not used: the CLIP text side])``.
    """
    path = osp.join(directory, 'config.json')
    if not osp.isfile(path):
        raise ConversionError(f'--vision-tower {directory!r}: no config.json.')
    cfg = _read_json(path)
    kind = cfg.get('model_type')
    if kind == 'clip':
        vision_cfg = dict(cfg['vision_config'])
    elif kind == 'clip_vision_model':
        vision_cfg = dict(cfg)
    else:
        raise ConversionError(
            f'--vision-tower {directory!r} has model_type {kind!r}; '
            "expected a CLIP directory ('clip' or 'clip_vision_model')."
        )
    for key in DROPPED_FIELDS:
        vision_cfg.pop(key, None)
    vision_cfg['model_type'] = 'clip_vision_model'
    state = load_weights(directory)
    prefixed = [k for k in state if k.startswith('vision_model.')]
    if prefixed:
        # the hub's files (CLIPModel, or CLIPVisionModel before
        # transformers 5) name the tower vision_model.*
        tower = {k[len('vision_model.') :]: state[k] for k in prefixed}
        unused = [k for k in state if not k.startswith('vision_model.')]
    elif kind == 'clip_vision_model':
        # transformers 5 saves CLIPVisionModel without the prefix
        tower, unused = dict(state), []
    else:
        raise ConversionError(
            f'--vision-tower {directory!r} holds no vision_model.* tensors.'
        )
    return vision_cfg, tower, unused


def _check_buffer(name: str, value: Tensor, expected: Tensor) -> None:
    """Old ``transformers`` versions saved buffers that are now computed
    from the config; they are dropped after checking that they are what
    the config gives, so that a different one (e.g. a scaled RoPE) is not
    silently lost."""
    if value.is_floating_point():
        # the file may hold it in half precision: allow its rounding
        rtol = max(1e-5, 2 * torch.finfo(value.dtype).eps)
        ok = value.shape == expected.shape and torch.allclose(
            value.float(), expected.float(), rtol=rtol, atol=0
        )
    else:
        ok = torch.equal(value, expected.to(value.dtype))
    if not ok:
        raise ConversionError(
            f'{name} differs from the value its config gives; the model '
            'was saved with settings this converter does not carry over.'
        )


# ---------------------------------------------------------------- tokenizer
def convert_tokenizer(src: str, legacy: Optional[bool]):
    """Load the LLaMA sentencepiece tokenizer of ``src`` as a fast
    tokenizer, checking that every added token keeps its id."""
    from transformers import LlamaTokenizer

    if not osp.isfile(osp.join(src, 'tokenizer.model')):
        raise ConversionError(
            f'{src!r} has no tokenizer.model (LLaMA sentencepiece).'
        )
    tok_cfg_path = osp.join(src, 'tokenizer_config.json')
    tok_cfg = _read_json(tok_cfg_path) if osp.isfile(tok_cfg_path) else {}
    if legacy is None:
        # The releases ran the slow LlamaTokenizer, whose default was
        # legacy=True: sentencepiece's dummy prefix after every added
        # token.
        legacy = tok_cfg.get('legacy', True)
    tok = LlamaTokenizer.from_pretrained(src, legacy=legacy)
    # ``save_pretrained`` writes only the kwargs in ``init_kwargs``;
    # LlamaTokenizer rebuilds its pre-tokenizer from ``legacy`` on load
    tok.init_kwargs['legacy'] = legacy
    expected = added_token_ids(src)
    check_token_ids(tok, expected, src)
    return tok, expected


def added_token_ids(src: str) -> Dict[str, int]:
    """The added tokens and their ids as the source files declare them."""
    ids: Dict[str, int] = {}
    path = osp.join(src, 'added_tokens.json')
    if osp.isfile(path):
        ids.update({k: int(v) for k, v in _read_json(path).items()})
    path = osp.join(src, 'tokenizer_config.json')
    if osp.isfile(path):
        decoder = _read_json(path).get('added_tokens_decoder', {})
        ids.update({v['content']: int(k) for k, v in decoder.items()})
    return ids


def check_token_ids(tok, expected: Dict[str, int], where: str) -> None:
    got = {t: tok.convert_tokens_to_ids(t) for t in expected}
    moved = {t: (i, got[t]) for t, i in expected.items() if got[t] != i}
    if moved:
        raise ConversionError(
            f'Tokenizer of {where!r}: added tokens changed ids '
            f'(token: (file, now)): {moved}'
        )


# ------------------------------------------------------------------ convert
# LlamaModel's own tensors in the flat file (LISA adds other model.* keys)
LLAMA_KEY = re.compile(r'^model\.(embed_tokens\.|norm\.|layers\.\d+\.)')


def _llama_part(state, used, dtype) -> Dict[str, Tensor]:
    """The LLaMA tensors, named as in ``LlamaModel``."""
    out = {}
    for key, value in state.items():
        if LLAMA_KEY.match(key) and not key.endswith('.rotary_emb.inv_freq'):
            out[key[len('model.') :]] = value.to(dtype)
            used.add(key)
    return out


def _with_mean_rows(weight: Tensor, extra: int) -> Tensor:
    """``weight`` with ``extra`` rows appended, each the mean row."""
    mean = weight.float().mean(0, keepdim=True).to(weight.dtype)
    return torch.cat([weight, mean.expand(extra, -1)])


def convert(
    src: str,
    dst: str,
    vision_tower: Optional[str] = None,
    dtype: Optional[str] = None,
    drop_prefixes=(),
    legacy: Optional[bool] = None,
    max_shard_size: str = '5GB',
) -> dict:
    """Convert ``src`` (original LLaVA format) to an HF LLaVA at ``dst``.

    Args:
        src (str): The original LLaVA / LISA directory.
        dst (str): Output directory (created).
        vision_tower (str, optional): Local HF CLIP directory; it gives
            the tower's config and, unless ``src`` embeds the tower (LISA
            saves it), its weights. Required.
        dtype (str, optional): ``'float32'``, ``'float16'`` or
            ``'bfloat16'``. Defaults to the dtype of the language model's
            weights; the tower is cast to it, as LLaVA does at inference.
        drop_prefixes (Sequence[str]): Source keys to leave out on purpose
            (e.g. LISA's ``model.visual_model.`` SAM and
            ``model.text_hidden_fcs.``). Any other key that is not
            converted is an error.
        legacy (bool, optional): The fast tokenizer's ``legacy`` flag.
            Defaults to the source's ``tokenizer_config.json``, else True.
        max_shard_size (str): Passed to ``save_pretrained``.

    Returns:
        dict: Key accounting: ``source_keys``, ``consumed``, ``dropped``
        (by ``drop_prefixes``), ``checked_buffers`` (saved buffers that
        the config recomputes), ``vision_dir_keys_used``,
        ``vision_dir_keys_unused``, ``target_params``, ``filled``,
        ``identity_params`` (the ``linear_2`` made identity) and
        ``image_token_id``.
    """
    from transformers import (
        AddedToken,
        AutoTokenizer,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    flat = read_llava_config(src)
    text_cfg, llava_cfg = split_config(flat)
    state = load_weights(src)
    used: set = set()
    report: dict = dict(source_keys=len(state))

    # ---- what the file holds, and whether anything is unknown
    dropped = {k for k in state if k.startswith(tuple(drop_prefixes))}
    for need in ('model.embed_tokens.weight', 'lm_head.weight'):
        if need not in state:
            raise ConversionError(
                f'{src!r} has no {need}: not a LLaVA language model '
                f'(keys: {_few(state)}).'
            )
    llm_dtype = state['model.embed_tokens.weight'].dtype
    dtype = DTYPES[dtype] if dtype else llm_dtype

    # ---- vision tower: embedded in the file, or from --vision-tower
    embedded = {}
    for prefix in EMBEDDED_TOWER_PREFIXES:
        full = prefix + 'vision_model.'
        found = {k for k in state if k.startswith(full)}
        if found:
            embedded = {k[len(full) :]: state[k] for k in found}
            used |= found
            break
    if vision_tower is not None:
        vision_cfg, tower, unused = read_vision_tower(vision_tower)
        report['vision_dir_keys_unused'] = len(unused)
        if embedded:
            report['vision_dir_keys_used'] = 0
            report['vision_dir_keys_unused'] += len(tower)
            tower = embedded
        else:
            report['vision_dir_keys_used'] = len(tower)
    elif embedded:
        raise ConversionError(
            f'{src!r} embeds the CLIP tower but its config is not in the '
            'file: give the CLIP directory with --vision-tower.'
        )
    else:
        raise ConversionError(
            f'{src!r} holds no CLIP tower (LLaVA v1 loads '
            f'{flat.get("mm_vision_tower")!r} by name): give its local '
            'HF directory with --vision-tower.'
        )
    pos_ids = tower.pop('embeddings.position_ids', None)
    if pos_ids is not None:
        n = pos_ids.shape[-1]
        _check_buffer(
            'vision_model.embeddings.position_ids',
            pos_ids,
            torch.arange(n).view(pos_ids.shape),
        )
    if vision_cfg['hidden_size'] != flat['mm_hidden_size']:
        raise ConversionError(
            f'The vision tower has hidden_size {vision_cfg["hidden_size"]}'
            f' but the LLaVA projector reads mm_hidden_size '
            f'{flat["mm_hidden_size"]}: not the tower of this model.'
        )

    # ---- rotary buffers of old LLaMA checkpoints: check, then drop
    heads = text_cfg['num_attention_heads']
    head_dim = text_cfg.get('head_dim') or text_cfg['hidden_size'] // heads
    base = float(text_cfg.get('rope_theta', 10000.0))
    inv_freq = 1.0 / base ** (
        torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    )
    checked = [k for k in state if k.endswith('.rotary_emb.inv_freq')]
    for key in checked:
        if text_cfg.get('rope_scaling'):
            raise ConversionError(
                f'{key}: rope_scaling {text_cfg["rope_scaling"]} is not '
                'supported by this converter.'
            )
        _check_buffer(key, state[key], inv_freq)
    used |= set(checked)
    report['checked_buffers'] = len(checked) + int(pos_ids is not None)

    # ---- projector
    kind = flat.get('mm_projector_type', 'linear')
    hidden = text_cfg['hidden_size']
    if kind == 'linear':
        keys = ('model.mm_projector.weight', 'model.mm_projector.bias')
        act = 'linear'
    elif kind == 'mlp2x_gelu':
        keys = tuple(
            f'model.mm_projector.{i}.{p}'
            for i in (0, 2)
            for p in ('weight', 'bias')
        )
        act = 'gelu'
    else:
        raise ConversionError(
            f'mm_projector_type {kind!r} has no HF LLaVA equivalent; '
            "supported: 'linear' (v1), 'mlp2x_gelu' (v1.5)."
        )
    missing = [k for k in keys if k not in state]
    if missing:
        have = _few(k for k in state if 'mm_projector' in k) or 'none'
        raise ConversionError(
            f'Projector type {kind!r} needs {missing}; the file has {have}.'
        )
    w1 = state[keys[0]]
    if tuple(w1.shape) != (hidden, flat['mm_hidden_size']):
        raise ConversionError(
            f'{keys[0]} has shape {tuple(w1.shape)}, expected '
            f'{(hidden, flat["mm_hidden_size"])} (hidden_size, '
            'mm_hidden_size).'
        )
    projector = {
        'linear_1.weight': state[keys[0]].to(dtype),
        'linear_1.bias': state[keys[1]].to(dtype),
    }
    if kind == 'linear':
        projector['linear_2.weight'] = torch.eye(hidden, dtype=dtype)
        projector['linear_2.bias'] = torch.zeros(hidden, dtype=dtype)
        report['identity_params'] = 2
    else:
        projector['linear_2.weight'] = state[keys[2]].to(dtype)
        projector['linear_2.bias'] = state[keys[3]].to(dtype)
        report['identity_params'] = 0
    used |= set(keys)

    # ---- language model
    llama = _llama_part(
        {k: v for k, v in state.items() if k not in dropped}, used, dtype
    )
    lm_head = state['lm_head.weight'].to(dtype)
    used.add('lm_head.weight')

    left = set(state) - used - dropped
    if left:
        raise ConversionError(
            f'{src!r} holds keys this converter does not know: '
            f'{_few(left)}. If they belong to another model (LISA: '
            "'model.visual_model.', 'model.text_hidden_fcs.'), leave them "
            'out with --drop-prefix.'
        )

    # ---- tokenizer; <image> for the image positions
    tok, expected_ids = convert_tokenizer(src, legacy)
    rows = llama['embed_tokens.weight'].shape[0]
    if len(tok) > rows:
        raise ConversionError(
            f'The tokenizer has {len(tok)} tokens but the embedding table '
            f'{rows} rows: the tokenizer of another model?'
        )
    if IMAGE_TOKEN not in tok.get_vocab():
        tok.add_tokens(
            [AddedToken(IMAGE_TOKEN, normalized=False, special=True)],
            special_tokens=True,
        )
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    if image_id >= rows:
        # mean rows, as LLaVA's initialize_vision_tokenizer does for the
        # tokens it adds
        extra = image_id + 1 - rows
        llama['embed_tokens.weight'] = _with_mean_rows(
            llama['embed_tokens.weight'], extra
        )
        lm_head = _with_mean_rows(lm_head, extra)
    text_cfg['vocab_size'] = llama['embed_tokens.weight'].shape[0]

    # ---- config
    vision_cfg.pop('dtype', None)
    layers = vision_cfg['num_hidden_layers']
    select_layer = int(flat.get('mm_vision_select_layer', -1))
    if not -(layers + 1) <= select_layer <= layers:
        raise ConversionError(
            f'mm_vision_select_layer {select_layer} is outside the '
            f'{layers}-layer tower.'
        )
    select = flat.get('mm_vision_select_feature', 'patch')
    strategies = dict(patch='default', cls_patch='full')
    if select not in strategies:
        raise ConversionError(
            f'mm_vision_select_feature {select!r}: expected one of '
            f'{sorted(strategies)}.'
        )
    n_patches = (vision_cfg['image_size'] // vision_cfg['patch_size']) ** 2
    llava_cfg['converted_by'] = 'tools/model_converters/llava2hf.py'
    llava_cfg['projector'] = (
        'one Linear in linear_1; linear_2 is the identity'
        if kind == 'linear'
        else 'mlp2x_gelu'
    )
    llava_cfg['added_tokens'] = expected_ids
    config = LlavaConfig(
        text_config=text_cfg,
        vision_config=vision_cfg,
        image_token_index=image_id,
        image_seq_length=n_patches + int(select == 'cls_patch'),
        vision_feature_layer=select_layer,
        vision_feature_select_strategy=strategies[select],
        projector_hidden_act=act,
        multimodal_projector_bias=True,
        tie_word_embeddings=False,
        llava_v1_source=llava_cfg,
    )

    # ---- fill the model part by part (strict: every parameter filled)
    with torch.device('meta'):
        model = LlavaForConditionalGeneration(config)
    tower_module = model.model.vision_tower
    # transformers 4 nests the CLIP transformer in CLIPVisionModel, 5 does
    # not; the tensors are named from there down either way
    tower_module = getattr(tower_module, 'vision_model', tower_module)
    tower = {k: v.to(dtype) for k, v in tower.items()}
    parts = (
        (model.model.language_model, llama, 'the language model'),
        (model.lm_head, {'weight': lm_head}, 'lm_head'),
        (model.model.multi_modal_projector, projector, 'the projector'),
        (tower_module, tower, 'the CLIP tower'),
    )
    filled = 0
    for module, part, what in parts:
        expected = set(module.state_dict())
        missing, unexpected = expected - set(part), set(part) - expected
        if missing or unexpected:
            raise ConversionError(
                f'{what}: missing {_few(missing) or "none"}; unexpected '
                f'{_few(unexpected) or "none"}.'
            )
        shapes = {
            k: (tuple(part[k].shape), tuple(v.shape))
            for k, v in module.state_dict().items()
            if part[k].shape != v.shape
        }
        if shapes:
            raise ConversionError(f'{what}: shape (file, config) {shapes}')
        module.load_state_dict(part, strict=True, assign=True)
        filled += len(part)
    report['target_params'] = len(model.state_dict())
    report['filled'] = filled
    report['consumed'] = len(used)
    report['dropped'] = len(dropped)
    report['image_token_id'] = image_id

    # ---- write
    os.makedirs(dst, exist_ok=True)
    model.save_pretrained(dst, max_shard_size=max_shard_size)
    tok.save_pretrained(dst)
    # the sentencepiece model too, for slow (sentencepiece) LlamaTokenizer
    # users; the fast one reads tokenizer.json
    shutil.copy(osp.join(src, 'tokenizer.model'), dst)
    reloaded = AutoTokenizer.from_pretrained(dst)
    check_token_ids(reloaded, {**expected_ids, IMAGE_TOKEN: image_id}, dst)
    if vision_tower is not None:
        # CLIPImageProcessor settings, for HF's LlavaProcessor
        pre = osp.join(vision_tower, 'preprocessor_config.json')
        if osp.isfile(pre):
            shutil.copy(pre, dst)
    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            'Convert an original-format LLaVA v1 / LLaVA-Llama-2 / LISA '
            'directory (flat config.json with model_type "llava", '
            'model.layers.N / model.mm_projector / lm_head weights in '
            '.bin or .safetensors, LLaMA tokenizer.model) into an HF '
            'LlavaForConditionalGeneration directory (config.json, '
            'safetensors, fast tokenizer with <image> added), with the '
            'CLIP tower merged in. The one-Linear v1 projector is kept '
            'exact (linear_1 = the Linear, linear_2 = identity).'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            'Example:\n  python tools/model_converters/llava2hf.py '
            'LLaVA-Lightning-7B-v1-1 data/pretrained/llava-v1-vicuna-7b '
            '--vision-tower clip-vit-large-patch14'
        ),
    )
    parser.add_argument('src', help='original LLaVA directory')
    parser.add_argument('dst', help='output HF LLaVA directory')
    parser.add_argument(
        '--vision-tower',
        help='local HF CLIP directory (openai/clip-vit-large-patch14 for '
        'LLaVA v1), CLIPModel or CLIPVisionModel layout',
    )
    parser.add_argument(
        '--dtype',
        choices=sorted(DTYPES),
        help='output dtype (default: that of the language model weights)',
    )
    parser.add_argument(
        '--drop-prefix',
        action='append',
        default=[],
        metavar='PREFIX',
        help='leave out source keys with this prefix on purpose (repeat; '
        'e.g. LISA: model.visual_model. and model.text_hidden_fcs.)',
    )
    parser.add_argument(
        '--legacy',
        choices=('true', 'false'),
        help="tokenizer 'legacy' flag (default: the source's, else true)",
    )
    parser.add_argument('--max-shard-size', default='5GB')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    legacy = None if args.legacy is None else args.legacy == 'true'
    report = convert(
        args.src,
        args.dst,
        vision_tower=args.vision_tower,
        dtype=args.dtype,
        drop_prefixes=args.drop_prefix,
        legacy=legacy,
        max_shard_size=args.max_shard_size,
    )
    print(
        f'Converted {args.src} -> {args.dst}: '
        + ', '.join(f'{k}={v}' for k, v in report.items())
    )
    return report


if __name__ == '__main__':
    main()
