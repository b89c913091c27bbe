# Copyright (c) mmgres contributors. All rights reserved.
"""Convert a released GSVA checkpoint into an mmgres GSVA checkpoint.

    python tools/model_converters/gsva2mmgres.py SRC DST [--config CFG]
        [--merge-lora] [--lora-alpha 16] [--dtype bfloat16]
        [--cfg-options k=v ...]

SRC is one of GSVA's released weight files (``gsva-7b-pt.bin``,
``gsva-7b-ft-gres.bin`` and the 13B ones): the DeepSpeed
``zero_to_fp32`` output of the peft ``PeftModel`` that GSVA's
``main.py`` builds (``LisaGSVAForCausalLM``: LLaVA with SAM and the
``[SEG]`` projector, LoRA on the LLM's ``q_proj``/``v_proj``), all keys
under ``base_model.model.``:

- ``model.embed_tokens``, ``model.layers.N.*``, ``model.norm``,
  ``lm_head``: the LLaMA; ``q_proj``/``v_proj`` hold ``weight`` (or
  ``base_layer.weight``, newer peft) and ``lora_A/B.default.weight``;
- ``model.mm_projector``: LLaVA v1's one Linear, which goes to our one
  Linear (``LlavaMLLM(projector='linear')``,
  ``mllm.model.model.multi_modal_projector.{weight,bias}``);
- ``model.vision_tower.vision_tower.vision_model.*``: the CLIP tower;
- ``model.visual_model.*``: SAM, segment-anything names;
- ``model.text_hidden_fcs.0.{0,2}``: the projector psi.

DST is a ``{'state_dict', 'meta'}`` file whose keys are exactly those of
the GSVA model that CFG builds, for ``tools/test.py CFG DST`` or
``load_from``. The model is built on the meta device (no weights are read
or allocated), with the tokenizer, LLaVA architecture and SAM architecture
that CFG names, so CFG's ``llava_path`` must be the directory the base
LLaVA was converted to (``llava2hf.py``) and ``sam_path`` a SAM it can
build. Every source key
must be used and every parameter of the model filled, or the conversion
stops and names the keys.

Tokens. The release's ``[SEG]``/``[REJ]`` (and ``<im_start>``/``<im_end>``
where the base lacks them) rows move to our ids of the same tokens
(``gsva_tokens.py`` beside this file).

LoRA. Kept by default (our model names the adapters as peft does; the
rank and ``lora_alpha / r`` scaling of CFG's ``lora_cfg`` must match the
file's). ``--merge-lora`` folds them in, ``W + (alpha / r) B A`` in
float32, and builds the target without LoRA: then test with
``--cfg-options model.mllm.lora_cfg=None``.
"""

import argparse
import copy
import importlib.util
import os.path as osp
import sys
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

PREFIX = 'base_model.model.'
SAM_PREFIX = 'model.visual_model.'
PSI_PREFIX = 'model.text_hidden_fcs.0.'
CLIP_PREFIX = 'model.vision_tower.vision_tower.vision_model.'
DEFAULT_CONFIG = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'
# GSVA main.py: --lora_alpha 16 (the file holds the rank, not alpha)
RELEASE_LORA_ALPHA = 16.0
DTYPES = dict(
    float32=torch.float32, float16=torch.float16, bfloat16=torch.bfloat16
)
# What a file without the peft prefix is, by its keys.
OTHER_FILES = (
    (
        SAM_PREFIX,
        'a merged LISA/GSVA checkpoint without the peft prefix, which this '
        'converter does not take',
    ),
    (
        'model.layers.',
        'a plain LLaVA file: convert it with llava2hf.py and set the '
        "config's llava_path",
    ),
    ('image_encoder.', 'a SAM file: convert it with sam2mmgres.py'),
)


def _sibling(name: str):
    """Import a converter of this folder by path (it is no package)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_mmgres_{name}', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sam2mmgres = _sibling('sam2mmgres')
llava2hf = _sibling('llava2hf')
gsva_tokens = _sibling('gsva_tokens')
ConversionError = gsva_tokens.ConversionError
IM_START, IM_END = gsva_tokens.IM_START, gsva_tokens.IM_END
release_token_map = gsva_tokens.release_token_map
move_rows = gsva_tokens.move_rows


def _few(keys, n: int = 8) -> str:
    keys = sorted(keys)
    more = f' ... ({len(keys)} in all)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


# ------------------------------------------------------------------ reading
def load_release(path: str) -> Dict[str, Tensor]:
    """Read a GSVA release and strip ``base_model.model.``.

    Raises:
        ConversionError: Not a file, not a flat state dict, or the keys of
            another model (InstanceVG, plain LLaVA/LISA, SAM alone).
    """
    if not osp.isfile(path):
        raise ConversionError(f'No such file: {path!r}.')
    obj = llava2hf._load_file(path)
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f'{path!r} holds no state dict.')
    tensors = all(isinstance(v, Tensor) for v in obj.values())
    keys = sorted(obj)
    if not tensors:
        inner = obj.get('state_dict', obj.get('model'))
        if isinstance(inner, dict) and any(
            'vis_enc' in k or 'beit3' in k for k in inner
        ):
            raise ConversionError(
                f'{path!r} is an InstanceVG checkpoint (state_dict with '
                "'module.vis_enc.beit3...'), not a GSVA release."
            )
        raise ConversionError(
            f'{path!r} is a training checkpoint (entries {keys[:5]}), not '
            "GSVA's zero_to_fp32 .bin (a flat state dict of tensors)."
        )
    if not any(k.startswith(PREFIX) for k in keys):
        hint = next(
            (h for p, h in OTHER_FILES if any(k.startswith(p) for k in keys)),
            f'top-level names {sorted({k.split(".")[0] for k in keys})}',
        )
        raise ConversionError(
            f"{path!r} is not a GSVA release (keys under '{PREFIX}'): {hint}."
        )
    outside = [k for k in keys if not k.startswith(PREFIX)]
    if outside:
        raise ConversionError(
            f'{path!r} has keys outside {PREFIX!r}: {_few(outside)}.'
        )
    sd = {k[len(PREFIX) :]: v for k, v in obj.items()}
    for need in (SAM_PREFIX, PSI_PREFIX, CLIP_PREFIX, 'model.layers.'):
        if not any(k.startswith(need) for k in sd):
            raise ConversionError(
                f'{path!r} has no {PREFIX}{need}* keys, which GSVA '
                '(LLaVA + SAM + text_hidden_fcs) has: not a GSVA release.'
            )
    return sd


# ------------------------------------------------------------------- target
def _hf_config_dict(directory: str, cls) -> Optional[dict]:
    if not osp.isfile(osp.join(directory, 'config.json')):
        return None
    cfg = cls.from_pretrained(directory).to_dict()
    for key in llava2hf.DROPPED_FIELDS:
        cfg.pop(key, None)
    return cfg


def build_target(
    config: str, cfg_options: Optional[dict] = None, merge_lora=False
):
    """Build the GSVA model of ``config`` on the meta device.

    Loading is turned off (``pretrained=False``) and the architectures are
    read from the config files of the directories the config names, so
    nothing but the tokenizer is read.
    """
    from mmengine.config import Config
    from transformers import LlavaConfig, SamConfig

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('type') != 'GSVA':
        raise ConversionError(
            f'{config!r} builds a {model_cfg.get("type")!r}, not GSVA.'
        )
    mllm = model_cfg['mllm']
    if merge_lora:
        mllm['lora_cfg'] = None
    if mllm.get('pretrained', True):
        path = mllm.get('name_or_path')
        found = path and _hf_config_dict(path, LlavaConfig)
        if not found:
            raise ConversionError(
                f'model.mllm.name_or_path {path!r} has no config.json: '
                'convert the base LLaVA there with llava2hf.py first.'
            )
        mllm.update(pretrained=False, model_cfg=found)
    seg = model_cfg['mask_head']['segmentor']
    if seg.get('pretrained', True):
        path = seg.get('name_or_path')
        found = path and _hf_config_dict(path, SamConfig)
        # else a name of KNOWN_SAM_ARCHS ('facebook/sam-vit-huge')
        seg.update(pretrained=False, model_cfg=found or seg.get('model_cfg'))
    for part in (mllm, seg):
        part.pop('torch_dtype', None)  # the file's dtype is kept
    mllm['gradient_checkpointing'] = False
    with torch.device('meta'):
        return MODELS.build(model_cfg)


# ------------------------------------------------------------------ convert
def _lora_parts(sd: Dict[str, Tensor], used: set) -> Dict[str, dict]:
    """``{'layers.N.self_attn.q_proj': {'A': ..., 'B': ...}}``."""
    import re

    pat = re.compile(r'^model\.(layers\.\d+\..+)\.lora_([AB])\.(\w+)\.weight$')
    lora: Dict[str, dict] = {}
    for key, value in sd.items():
        m = pat.match(key)
        if m is None:
            continue
        if m.group(3) != 'default':
            raise ConversionError(
                f'{key}: adapter {m.group(3)!r}; the release has one, '
                "'default'."
            )
        lora.setdefault(m.group(1), {})[m.group(2)] = value
        used.add(key)
    for module, ab in lora.items():
        if set(ab) != {'A', 'B'} or ab['A'].shape[0] != ab['B'].shape[1]:
            raise ConversionError(
                f'{module}: lora_A {tuple(ab.get("A", torch.empty(0)).shape)}'
                f' and lora_B {tuple(ab.get("B", torch.empty(0)).shape)} '
                'are no rank-r pair.'
            )
    return lora


def convert_state_dict(
    sd: Dict[str, Tensor],
    model,
    merge_lora: bool = False,
    lora_alpha: float = RELEASE_LORA_ALPHA,
) -> Tuple[Dict[str, Tensor], dict]:
    """Rename and reshape a GSVA release (prefix stripped) to ``model``'s
    keys (a :class:`GSVA`, e.g. from :func:`build_target`).

    Returns:
        tuple: Our state dict, in ``model.state_dict()`` order, and a
        report: key counts, the LoRA handling, the token rows moved.
    """
    from mmgres.models.utils.conversation import (
        IMAGE_PLACEHOLDER,
        REJ_TOKEN,
        SEG_TOKEN,
    )

    names = {id(m): n for n, m in model.named_modules()}

    def at(module) -> str:
        return names[id(module)] + '.'

    hf = model.mllm.model
    lm_p = at(hf.model.language_model)
    tower = hf.model.vision_tower
    tower_p = at(getattr(tower, 'vision_model', tower))
    proj_p = at(hf.model.multi_modal_projector)
    head_key = at(hf.lm_head) + 'weight'
    sam_p = at(model.mask_head.segmentor.model)
    psi_p = at(model.mask_head.proj)
    target = model.state_dict()
    used: set = set()
    out: Dict[str, Tensor] = {}
    report: dict = dict(source_keys=len(sd))

    # ---- language model; LoRA kept (peft names) or merged
    lora = _lora_parts(sd, used)
    ranks = sorted({int(ab['A'].shape[0]) for ab in lora.values()})
    if len(ranks) > 1:
        raise ConversionError(f'LoRA adapters of several ranks {ranks}.')
    if lora and not merge_lora:
        if not any('.lora_A.' in k for k in target):
            raise ConversionError(
                'The release has LoRA adapters but the config builds no '
                'LoRA (model.mllm.lora_cfg is None): give --merge-lora.'
            )
        for module in lora:
            got = model.get_submodule(lm_p + module).scaling['default']
            want = lora_alpha / ranks[0]
            if abs(got - want) > 1e-9:
                raise ConversionError(
                    f'LoRA scaling: the config gives alpha/r = {got:g}, the '
                    f'release {lora_alpha:g}/{ranks[0]} = {want:g}; set '
                    f'model.mllm.lora_cfg.r={ranks[0]} and '
                    f'lora_alpha={lora_alpha:g}, or give --merge-lora.'
                )
    text_cfg = hf.config.text_config
    head_dim = getattr(text_cfg, 'head_dim', None) or (
        text_cfg.hidden_size // text_cfg.num_attention_heads
    )
    inv_freq = 1.0 / 10000.0 ** (
        torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    )
    for key, value in sd.items():
        if key in used or not llava2hf.LLAMA_KEY.match(key):
            continue
        used.add(key)
        if key.endswith('.rotary_emb.inv_freq'):
            # a buffer old LLaMA code saved; LLaMA recomputes it
            llava2hf._check_buffer(key, value, inv_freq)
            continue
        name = key[len('model.') :].replace('.base_layer.', '.')
        if name == 'embed_tokens.weight':
            continue  # rows moved below
        module = name[: -len('.weight')]
        ab = lora.pop(module, None)
        if ab is None:
            out[lm_p + name] = value
        elif merge_lora:
            delta = ab['B'].float() @ ab['A'].float()
            merged = value.float() + (lora_alpha / ranks[0]) * delta
            out[lm_p + name] = merged.to(value.dtype)
        else:
            out[lm_p + module + '.base_layer.weight'] = value
            out[lm_p + module + '.lora_A.default.weight'] = ab['A']
            out[lm_p + module + '.lora_B.default.weight'] = ab['B']
    if lora:
        raise ConversionError(
            f'LoRA adapters without a base weight: {_few(lora)}.'
        )
    report['lora'] = 'merged' if merge_lora else 'kept'
    report['lora_r'] = ranks[0] if ranks else None
    report['lora_alpha'] = lora_alpha if ranks else None

    # ---- token rows: embed_tokens and lm_head
    for key in ('model.embed_tokens.weight', 'lm_head.weight'):
        if key not in sd:
            raise ConversionError(f'The release has no {PREFIX}{key}.')
    emb, head = sd['model.embed_tokens.weight'], sd['lm_head.weight']
    if emb.shape != head.shape:
        raise ConversionError(
            f'embed_tokens {tuple(emb.shape)} and lm_head '
            f'{tuple(head.shape)} differ in rows.'
        )
    mllm = model.mllm
    mapping, base, appended = release_token_map(
        emb.shape[0],
        mllm.tokenizer.get_vocab(),
        SEG_TOKEN,
        REJ_TOKEN,
        IMAGE_PLACEHOLDER,
    )
    n_ours = target[head_key].shape[0]
    out[lm_p + 'embed_tokens.weight'], mean_ids = move_rows(
        emb, mapping, base, n_ours
    )
    out[head_key], _ = move_rows(head, mapping, base, n_ours)
    used |= {'model.embed_tokens.weight', 'lm_head.weight'}
    id_to_tok = {i: t for t, i in mllm.tokenizer.get_vocab().items()}
    report['base_vocab'] = base
    report['moved_tokens'] = {
        t: (base + k, mapping[base + k]) for k, t in enumerate(appended)
    }
    report['mean_rows'] = [id_to_tok.get(i, str(i)) for i in mean_ids]

    # ---- projector: LLaVA v1's one Linear onto our one Linear
    if not isinstance(hf.model.multi_modal_projector, torch.nn.Linear):
        raise ConversionError(
            "The config's LLaVA has a two-layer projector; GSVA's is LLaVA "
            "v1's one Linear: set model.mllm.projector='linear'."
        )
    for p in ('weight', 'bias'):
        key = f'model.mm_projector.{p}'
        if key not in sd:
            have = _few(k for k in sd if 'mm_projector' in k) or 'none'
            raise ConversionError(
                f"The release has no {key} (LLaVA v1's one Linear); it "
                f'has {have}.'
            )
        out[proj_p + p] = sd[key]
        used.add(key)

    # ---- CLIP tower
    for key, value in sd.items():
        if not key.startswith(CLIP_PREFIX):
            continue
        used.add(key)
        rest = key[len(CLIP_PREFIX) :]
        if rest == 'embeddings.position_ids':
            n = value.shape[-1]
            want = torch.arange(n).view(value.shape)
            llava2hf._check_buffer(key, value, want)
            continue
        out[tower_p + rest] = value

    # ---- SAM, through sam2mmgres' key table
    sam = {
        k[len(SAM_PREFIX) :]: v
        for k, v in sd.items()
        if k.startswith(SAM_PREFIX)
    }
    sam2mmgres._check_is_sam(sam, PREFIX + SAM_PREFIX)
    sam_cfg, _ = sam2mmgres.infer_sam_config(sam)
    sam_hf, _ = sam2mmgres.convert_state_dict(sam, sam_cfg)
    out.update({sam_p + k: v for k, v in sam_hf.items()})
    used |= {SAM_PREFIX + k for k in sam}

    # ---- psi: Sequential(Linear, ReLU, Linear, Dropout) -> mmdet MLP
    for i, j in ((0, 0), (2, 1)):
        for p in ('weight', 'bias'):
            key = f'{PSI_PREFIX}{i}.{p}'
            if key not in sd:
                raise ConversionError(f'The release has no {key}.')
            out[f'{psi_p}layers.{j}.{p}'] = sd[key]
            used.add(key)

    # ---- everything used, everything filled, shapes equal
    left = set(sd) - used
    if left:
        raise ConversionError(f'Release keys not converted: {_few(left)}.')
    missing, extra = set(target) - set(out), set(out) - set(target)
    if missing or extra:
        raise ConversionError(
            f'Our model has keys the release does not fill: '
            f'{_few(missing) or "none"}; converted keys our model lacks: '
            f'{_few(extra) or "none"}.'
        )
    wrong = [
        f'{k}: release {tuple(out[k].shape)} vs ours {tuple(v.shape)}'
        for k, v in target.items()
        if out[k].shape != v.shape
    ]
    if wrong:
        raise ConversionError(
            f'Shape mismatch for {len(wrong)} key(s) (is the config the '
            f"release's size?): {wrong[:6]}"
        )
    report['consumed'] = len(used)
    report['target_keys'] = len(target)
    return {k: out[k] for k in target}, report


def convert(
    src: str,
    dst: str,
    config: str = DEFAULT_CONFIG,
    cfg_options: Optional[dict] = None,
    merge_lora: bool = False,
    lora_alpha: float = RELEASE_LORA_ALPHA,
    dtype: Optional[str] = None,
) -> dict:
    """Convert ``src`` into ``dst`` for the model of ``config``; see the
    module docstring. Returns the report of :func:`convert_state_dict`."""
    if osp.isdir(dst):
        raise ConversionError(f'{dst!r} is a directory; give a file name.')
    sd = load_release(src)
    model = build_target(config, cfg_options, merge_lora)
    state, report = convert_state_dict(sd, model, merge_lora, lora_alpha)
    if dtype is not None:
        cast = DTYPES[dtype]
        state = {
            k: v.to(cast) if v.is_floating_point() else v
            for k, v in state.items()
        }
    meta = dict(
        converted_by='tools/model_converters/gsva2mmgres.py',
        source=osp.basename(src),
        config=config,
        **report,
    )
    torch.save(dict(state_dict=state, meta=meta), dst)
    return report


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description=(
            "Convert a released GSVA checkpoint (GSVA's zero_to_fp32 .bin "
            'of the peft model: base_model.model.* keys, LLaVA + SAM + '
            'text_hidden_fcs, LoRA on q_proj/v_proj) into an mmgres '
            'checkpoint for the GSVA model that --config builds.'
        )
    )
    parser.add_argument('src', help='e.g. gsva-7b-ft-gres.bin')
    parser.add_argument('dst', help='output .pth for tools/test.py')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='the GSVA config to convert for; its llava_path must be the '
        'llava2hf.py output of the base LLaVA (default: %(default)s)',
    )
    parser.add_argument(
        '--merge-lora',
        action='store_true',
        help='fold LoRA into q_proj/v_proj (W + alpha/r B A); then test '
        'with --cfg-options model.mllm.lora_cfg=None',
    )
    parser.add_argument(
        '--lora-alpha',
        type=float,
        default=RELEASE_LORA_ALPHA,
        help="the release's lora_alpha, not in the file (default: "
        "%(default)s, GSVA's)",
    )
    parser.add_argument(
        '--dtype', choices=sorted(DTYPES), help="default: the file's"
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of --config, as in tools/test.py',
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = convert(
            args.src,
            args.dst,
            config=args.config,
            cfg_options=args.cfg_options,
            merge_lora=args.merge_lora,
            lora_alpha=args.lora_alpha,
            dtype=args.dtype,
        )
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(
        f'Converted {args.src} -> {args.dst}: '
        + ', '.join(f'{k}={v}' for k, v in report.items())
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
