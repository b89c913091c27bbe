# Copyright (c) mmgres contributors. All rights reserved.
"""Convert a timm ViT checkpoint to mmseg ``VisionTransformer`` keys.

This is the pretrained ViT of RaAM-RVG's ViT configs
(``configs/_base_/models/raam_vit-b_bert-base.py``), which loads it through
mmseg's ``VisionTransformer`` with ``init_cfg=dict(type='Pretrained')``.
mmseg's loader matches keys by name and loads with ``strict=False``, so a
timm file given as is would load only ``cls_token`` and ``pos_embed`` and
leave the rest random, without an error. This tool renames every key and
checks the result against an mmseg ``VisionTransformer`` built with the
checkpoint's own shapes, loaded strictly.

Key table (the facts of mmseg's ``tools/model_converters/vit2mmseg.py``)::

    cls_token, pos_embed              -> same names
    patch_embed.proj.{weight,bias}    -> patch_embed.projection.*
    norm_pre.*                        -> ln_pre.*  (needs pre_norm=True)
    blocks.i.norm1.*                  -> layers.i.ln1.*
    blocks.i.attn.qkv.{weight,bias}   -> layers.i.attn.attn.in_proj_*
    blocks.i.attn.proj.*              -> layers.i.attn.attn.out_proj.*
    blocks.i.norm2.*                  -> layers.i.ln2.*
    blocks.i.mlp.fc1.*                -> layers.i.ffn.layers.0.0.*
    blocks.i.mlp.fc2.*                -> layers.i.ffn.layers.1.*
    norm.*                            -> ln1.*  (used with final_norm=True)
    head.*                            -> dropped (the classifier)

Unlike mmseg's script, a key outside this table is an error (e.g. layer
scale ``ls1.gamma``, register tokens, ``fc_norm``, a distillation token:
mmseg's ViT has no place for them), and so is a missing key.

Example::

    python tools/model_converters/vit2mmgres.py \\
        vit_base_patch16_224.augreg_in21k/model.safetensors \\
        pretrain/vit-base-p16_in21k_mmseg.pth
"""

import argparse
import math
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

# (timm pattern, mmseg replacement); ``{i}`` is the block index.
_BLOCK_TABLE = (
    (r'norm1\.(weight|bias)', r'ln1.\1'),
    (r'attn\.qkv\.(weight|bias)', r'attn.attn.in_proj_\1'),
    (r'attn\.proj\.(weight|bias)', r'attn.attn.out_proj.\1'),
    (r'norm2\.(weight|bias)', r'ln2.\1'),
    (r'mlp\.fc1\.(weight|bias)', r'ffn.layers.0.0.\1'),
    (r'mlp\.fc2\.(weight|bias)', r'ffn.layers.1.\1'),
)
_TOP_TABLE = (
    (r'cls_token', r'cls_token'),
    (r'pos_embed', r'pos_embed'),
    (r'patch_embed\.proj\.(weight|bias)', r'patch_embed.projection.\1'),
    (r'norm_pre\.(weight|bias)', r'ln_pre.\1'),
    (r'norm\.(weight|bias)', r'ln1.\1'),
)
# every block of a timm ViT with qkv_bias=True has all of these
_BLOCK_REQUIRED = (
    'norm1.weight',
    'norm1.bias',
    'attn.qkv.weight',
    'attn.proj.weight',
    'attn.proj.bias',
    'norm2.weight',
    'norm2.bias',
    'mlp.fc1.weight',
    'mlp.fc1.bias',
    'mlp.fc2.weight',
    'mlp.fc2.bias',
)
_TOP_REQUIRED = (
    'cls_token',
    'pos_embed',
    'patch_embed.proj.weight',
    'blocks.0.mlp.fc1.weight',
)
_BLOCK = re.compile(r'blocks\.(\d+)\.')


class ConversionError(ValueError):
    """The source file is not a timm ViT checkpoint this tool can convert."""


def load_timm_checkpoint(path: str) -> Dict[str, Tensor]:
    """Read a timm ViT checkpoint and return its bare state dict.

    ``.safetensors`` files (timm's hub ``model.safetensors``) are read with
    safetensors; anything else with ``torch.load(weights_only=True)``
    (``pytorch_model.bin``, ``.pth``). The weights may sit under
    ``'model'`` (DeiT, timm's training checkpoints) or ``'state_dict'``, and
    behind a ``module.`` prefix (DataParallel/DDP).

    Args:
        path (str): The checkpoint file.

    Returns:
        dict[str, Tensor]: The state dict in timm's key layout.

    Raises:
        ConversionError: The file is missing, is a JAX ``.npz``, or holds no
            state dict.
    """
    if not osp.isfile(path):
        raise ConversionError(f'{path}: no such file')
    if path.endswith('.npz'):
        # Google's JAX files need transposes and reshapes per key (timm's
        # ``_load_weights``), not just a renaming; the timm hub repos
        # ship the same weights already in timm's layout.
        raise ConversionError(
            f'{path}: JAX .npz checkpoints are not supported. Use the timm '
            'layout of the same weights (model.safetensors or '
            'pytorch_model.bin of the timm/<model> hub repo), or load the '
            'npz with timm (model.load_pretrained(path)) and torch.save '
            'its state_dict().'
        )
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file

            ckpt = load_file(path, device='cpu')
        else:
            # DeiT-style training checkpoints keep an argparse.Namespace in
            # 'args'; allow just that class, not arbitrary pickles.
            with torch.serialization.safe_globals([argparse.Namespace]):
                ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # any reader error: name the file and the cause
        raise ConversionError(f'{path}: cannot be read ({e})') from e
    if not isinstance(ckpt, dict):
        raise ConversionError(
            f'{path}: expected a dict of tensors, got {type(ckpt).__name__}'
        )
    for container in ('model', 'state_dict'):
        if isinstance(ckpt.get(container), dict):
            ckpt = ckpt[container]
            break
    tensors = {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ConversionError(
            f'{path}: holds no tensors (top-level keys: {sorted(ckpt)[:10]})'
        )
    if all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.') :]: v for k, v in tensors.items()}
    return tensors


def _rename(key: str) -> Optional[str]:
    """The mmseg name of a timm key, or None if it has no place."""
    m = re.fullmatch(r'blocks\.(\d+)\.(.+)', key)
    if m:
        idx, rest = m.groups()
        for pattern, repl in _BLOCK_TABLE:
            if re.fullmatch(pattern, rest):
                return f'layers.{idx}.' + re.sub(pattern, repl, rest)
        return None
    for pattern, repl in _TOP_TABLE:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, repl, key)
    return None


def infer_arch(state_dict: Dict[str, Tensor]) -> dict:
    """The mmseg ``VisionTransformer`` arguments a timm state dict fits.

    ``num_heads`` cannot be read from the weights (any divisor of the width
    gives the same shapes); it is left out.

    Args:
        state_dict (dict[str, Tensor]): A timm ViT state dict.

    Returns:
        dict: ``img_size``, ``patch_size``, ``in_channels``, ``embed_dims``,
        ``num_layers``, ``mlp_ratio``, ``qkv_bias``, ``patch_bias``,
        ``pre_norm`` and ``final_norm``.
    """
    proj = state_dict['patch_embed.proj.weight']
    if proj.ndim != 4 or proj.shape[-1] != proj.shape[-2]:
        raise ConversionError(
            'patch_embed.proj.weight must be a square conv kernel '
            f'(C, 3, P, P), got {tuple(proj.shape)}'
        )
    embed_dims, in_channels, patch_size = proj.shape[:3]
    pos = state_dict['pos_embed']
    # mmseg's ViT adds one position to the class token and resizes the
    # rest as a square grid; timm models without a class-token position
    # (no_embed_class=True) do not fit.
    grid = math.isqrt(max(pos.shape[1] - 1, 0))
    if pos.ndim != 3 or grid * grid + 1 != pos.shape[1]:
        raise ConversionError(
            f'pos_embed of shape {tuple(pos.shape)} is not one class-token '
            'position plus a square grid, as mmseg VisionTransformer needs'
        )
    if state_dict['cls_token'].shape != (1, 1, embed_dims):
        raise ConversionError(
            f'cls_token has shape {tuple(state_dict["cls_token"].shape)}, '
            f'expected (1, 1, {embed_dims})'
        )
    blocks = sorted(
        {int(m.group(1)) for k in state_dict if (m := _BLOCK.match(k))}
    )
    if blocks != list(range(len(blocks))) or not blocks:
        raise ConversionError(
            f'transformer blocks must be numbered 0..N-1, found {blocks}'
        )
    hidden = state_dict['blocks.0.mlp.fc1.weight'].shape[0]
    # mmseg builds the MLP with mlp_ratio * embed_dims channels
    mlp_ratio = hidden / embed_dims
    if hidden % embed_dims == 0:
        mlp_ratio = hidden // embed_dims
    return dict(
        img_size=grid * patch_size,
        patch_size=patch_size,
        in_channels=in_channels,
        embed_dims=embed_dims,
        num_layers=len(blocks),
        mlp_ratio=mlp_ratio,
        qkv_bias='blocks.0.attn.qkv.bias' in state_dict,
        patch_bias='patch_embed.proj.bias' in state_dict,
        pre_norm='norm_pre.weight' in state_dict,
        final_norm='norm.weight' in state_dict,
    )


def convert_vit(
    state_dict: Dict[str, Tensor],
) -> Tuple['OrderedDict[str, Tensor]', List[str]]:
    """Rename a timm ViT state dict to mmseg ``VisionTransformer`` keys.

    Args:
        state_dict (dict[str, Tensor]): timm keys (``blocks.N.attn.qkv``,
            ``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``norm``).

    Returns:
        tuple: ``(converted, dropped)``: the mmseg state dict (the same
        tensors, renamed) and the source keys left out on purpose (only the
        classification ``head.*``).

    Raises:
        ConversionError: Keys are missing, or some have no mmseg place.
    """
    if 'patch_embed.projection.weight' in state_dict:
        raise ConversionError(
            'the checkpoint is already in mmseg VisionTransformer layout '
            '(patch_embed.projection.weight): load it as it is'
        )
    missing = [k for k in _TOP_REQUIRED if k not in state_dict]
    if missing:
        sample = sorted(state_dict)[:8]
        raise ConversionError(
            f'not a timm ViT checkpoint: missing {missing} '
            f'(the file has e.g. {sample})'
        )
    arch = infer_arch(state_dict)
    required = [
        f'blocks.{i}.{name}'
        for i in range(arch['num_layers'])
        for name in _BLOCK_REQUIRED
        + (('attn.qkv.bias',) if arch['qkv_bias'] else ())
    ]
    missing = [k for k in required if k not in state_dict]
    if missing:
        raise ConversionError(
            f'incomplete timm ViT checkpoint: missing {missing}'
        )
    converted = OrderedDict()
    dropped, unknown = [], []
    for key, value in state_dict.items():
        if key.startswith('head.') or key == 'head':
            dropped.append(key)
            continue
        new_key = _rename(key)
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = value
    if unknown:
        raise ConversionError(
            f'keys with no place in mmseg VisionTransformer: {unknown} '
            '(layer scale, register/distillation tokens, fc_norm or '
            'q/k norms are not supported)'
        )
    return converted, dropped


def verify_mmseg_layout(converted: Dict[str, Tensor], arch: dict) -> None:
    """Load ``converted`` strictly into an mmseg ``VisionTransformer`` of
    the same shapes: every parameter must be filled, none left over.

    Args:
        converted (dict[str, Tensor]): The output of :func:`convert_vit`.
        arch (dict): The output of :func:`infer_arch`.

    Raises:
        ConversionError: Keys or shapes do not match.
    """
    from mmseg.models.backbones import VisionTransformer

    # heads do not change any shape; 1 divides every width
    vit = VisionTransformer(num_heads=1, **arch)
    try:
        vit.load_state_dict(converted, strict=True)
    except RuntimeError as e:
        raise ConversionError(
            f'converted keys do not fit mmseg VisionTransformer: {e}'
        ) from e


def convert(src: str, dst: str) -> dict:
    """Convert the timm ViT checkpoint ``src`` and save it to ``dst``.

    The output is ``{'state_dict': ..., 'meta': ...}``, which mmseg's
    ``VisionTransformer.init_weights`` and mmengine's ``load_checkpoint``
    both unwrap.

    Args:
        src (str): timm checkpoint (``.safetensors``, ``.pth``, ``.bin``).
        dst (str): Output ``.pth`` path; its folder is created.

    Returns:
        dict: ``source_keys``, ``converted_keys``, ``dropped_keys`` (the
        head) and ``arch`` (the mmseg ViT arguments it fits).
    """
    state_dict = load_timm_checkpoint(src)
    converted, dropped = convert_vit(state_dict)
    arch = infer_arch(state_dict)
    verify_mmseg_layout(converted, arch)
    meta = dict(
        source=osp.basename(src),
        converter='tools/model_converters/vit2mmgres.py',
        layout='mmseg VisionTransformer',
        arch=dict(arch),
    )
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return dict(
        source_keys=list(state_dict),
        converted_keys=list(converted),
        dropped_keys=dropped,
        arch=arch,
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            'Convert a timm ViT checkpoint (keys blocks.N.attn.qkv, '
            'patch_embed.proj, cls_token, pos_embed, norm; bare or under '
            "'model'/'state_dict') to mmseg VisionTransformer keys, the "
            "layout RaAM's ViT configs load with init_cfg=dict(type="
            "'Pretrained'). The classification head.* is dropped; nothing "
            'else is. Offline; .npz (JAX) files are not supported.'
        ),
        epilog=(
            'The output is {"state_dict": ..., "meta": ...}. Configs that '
            'load it need patch_bias=True (timm patch embeddings have a '
            'bias) and the printed shapes; num_heads is not stored in the '
            'weights (ViT-B: 12).'
        ),
    )
    parser.add_argument(
        'src', help='timm checkpoint: .safetensors, .pth, .bin or .pt'
    )
    parser.add_argument('dst', help='output checkpoint (.pth)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        info = convert(args.src, args.dst)
    except ConversionError as e:
        print(f'vit2mmgres: error: {e}', file=sys.stderr)
        return 1
    print(
        f'{len(info["source_keys"])} source keys: '
        f'{len(info["converted_keys"])} converted, '
        f'{len(info["dropped_keys"])} classifier keys dropped '
        f'{info["dropped_keys"]}'
    )
    print(f'mmseg VisionTransformer arguments: {info["arch"]}')
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
