# Copyright (c) mmgres contributors. All rights reserved.
"""Convert an InstanceVG release checkpoint to mmgres IGVG keys.

InstanceVG (github Dmmm1997/InstanceVG, mmdet 2.x) is IGVG's public code.
Its checkpoints (``InstanceVG-grefcoco.pth`` and the others) are
``{'state_dict', 'optimizer', 'scheduler', 'epoch', 'lr', <metrics>}``,
the state dict of the DDP-wrapped ``MIXGrefUniModel``: keys
``module.vis_enc.beit3.*`` (BEiT-3) and ``module.head.*``
(``UniGRefDeformableHead`` with ``query_generation_type='aqsm'``). The
output fits ``configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco_instancevg.py``.

Key table (after stripping ``module.``; read from InstanceVG's code)::

    vis_enc.beit3.*                      -> backbone.beit3.*  (same
                                            torchscale names; the vision
                                            position table is already at
                                            the trained 320 px grid)
    head.img_embedding.weight            -> backbone.img_proj.weight
                                            (1x1 conv -> linear)
    head.lan_embedding.weight            -> backbone.text_proj.weight
    head.neck.fpn1.{0,1,3}.*             -> neck.stages.0.{0,1,3}.*
    head.neck.fpn2.0.*                   -> neck.stages.1.0.*
    head.neck.{lateral,fpn}_convs.i.conv -> neck.{...}.i.conv
    head.neck.{lateral,fpn}_convs.i.norm_layer (mmcv 1.x name of LN2d)
                                         -> neck.{...}.i.ln
    head.unet_decoder.conv{j}_{k}.weight -> head.mask_decoder.stages.s.
    head.unet_decoder.bn{j}_{k}.*           {j-1}.{conv,bn}.*  (k = 4, 3,
                                            2 -> s = 0, 1, 2)
    head.seg_branch.predict.*            -> head.mask_decoder.mask_conv.*
    head.nt_embed.layers.{0,1,2}.*       -> head.nt_branch.pixel_mlp.{0,2}
                                            (linear -> 1x1 conv), cls_fc
    head.class_embed.i.*                 -> head.cls_branches.i.*
    head.bbox_embed.i.layers.j.*         -> head.reg_branches.i.layers.j.*
    head.query_pos_embedding.*           -> head.query_pos.*
    head.decoder_transformer.reference_points.* -> head.reference_points.*
    head.decoder_transformer.decoder.layers.n.
        attentions.0.attn.*              -> head.decoder.layers.n.self_attn.
                                            attn.*
        attentions.1.*                   -> ...cross_attn.*
        ffns.0.layers.*                  -> ...ffn.layers.*
        norms.m.*                        -> ...norms.m.*
    head.query_generation.T2I_decoder.layers.0.
        attentions.{0,1}.attn.*          -> head.aqg.cross_attention.
                                            {self,cross}_attn.*
        ffns.0.layers.* / norms.m.*      -> ...ffn.layers.* / ...norms.m.*
    head.query_generation.T2I_decoder.post_norm_layer.*
                                         -> head.aqg.cross_attention.
                                            post_norm.*
    head.query_generation.mlp.layers.j.* -> head.aqg.query_injector.mlp.
                                            layers.j.*  (layer 0: input
                                            halves swapped, InstanceVG
                                            concatenates [text; point],
                                            mmgres [point; text])

Dropped, each because the released model never uses it:

- ``head.query_embedding.weight``: projects the CLS token, but with
  ``'aqsm'`` query generation the result is overwritten;
- ``head.query_generation.query_embed.weight``: built by ``AQSM`` and never
  read in its forward;
- ``head.proj_pixel_level_cons.*``: a CRIS projector built and never
  called;
- ``head.decoder_transformer.level_embeds``: added only to the encoder's
  positional input, and the release runs the decoder alone
  (``only_decoder=True``);
- ``head.detrloss.criterion.empty_weight``: DETR's class weights
  [1, 0.1] of the training loss (the config's ``loss_cls.class_weight``);
- ``head.seg_branch_aux_list.*``: auxiliary training-loss heads (only
  when a config sets ``loss_weight['mask']['aux']``).

Optimizer, scheduler and metric entries are outside ``state_dict`` and
are not read. Any other key is an error, as is a missing one.

Example::

    python tools/model_converters/instancevg2mmgres.py \\
        InstanceVG-grefcoco.pth checkpoints/igvg_instancevg_grefcoco.pth
"""

import argparse
import os
import os.path as osp
import pickle
import re
import sys
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

T2I = 'head.query_generation.T2I_decoder.'
DEC = 'head.decoder_transformer.decoder.layers.'
# keys every release of the 'aqsm' model holds: a file without them is
# not an InstanceVG checkpoint
SENTINELS = (
    'vis_enc.beit3.text_embed.weight',
    'head.img_embedding.weight',
    T2I + 'post_norm_layer.weight',
    'head.decoder_transformer.reference_points.weight',
)
DROPPED = {
    r'head\.query_embedding\.weight': (
        'CLS projection, overwritten by the aqsm query generation'
    ),
    r'head\.query_generation\.query_embed\.weight': (
        'built by AQSM, never read in its forward'
    ),
    r'head\.proj_pixel_level_cons\..+': 'projector built, never called',
    r'head\.decoder_transformer\.level_embeds': (
        'encoder positional input; the release runs the decoder only'
    ),
    r'head\.detrloss\.criterion\.empty_weight': (
        'training loss class weights (loss_cls.class_weight)'
    ),
    r'head\.seg_branch_aux_list\..+': 'auxiliary training-loss heads',
}
UNET_STAGE = {'4': 0, '3': 1, '2': 2}  # InstanceVG fuses c4+c3 first


class ConversionError(Exception):
    """The source is not an InstanceVG checkpoint of the expected layout."""


def _linear_to_conv(t: Tensor) -> Tensor:
    return t[:, :, None, None]


def _conv_to_linear(t: Tensor) -> Tensor:
    if t.dim() != 4 or t.shape[-2:] != (1, 1):
        raise ConversionError(
            f'head.img_embedding.weight must be a 1x1 conv, got shape '
            f'{tuple(t.shape)}.'
        )
    return t[:, :, 0, 0]


def _swap_halves(t: Tensor) -> Tensor:
    """[text; point] input columns -> [point; text]."""
    if t.shape[1] % 2:
        raise ConversionError(
            'head.query_generation.mlp.layers.0.weight must take 2C '
            f'inputs, got shape {tuple(t.shape)}.'
        )
    c = t.shape[1] // 2
    return torch.cat([t[:, c:], t[:, :c]], dim=1)


def _rules() -> List[Tuple[str, Callable, Optional[Callable]]]:
    """(source regex, target builder from the match, tensor transform)."""
    wb = r'(weight|bias)'
    bn = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
    cat = r'(lateral_convs|fpn_convs)'
    nt = {'0': 'pixel_mlp.0', '1': 'pixel_mlp.2', '2': 'cls_fc'}
    return [
        (r'vis_enc\.(beit3\..+)', lambda m: f'backbone.{m[1]}', None),
        (
            r'head\.img_embedding\.weight',
            lambda m: 'backbone.img_proj.weight',
            _conv_to_linear,
        ),
        (
            r'head\.lan_embedding\.weight',
            lambda m: 'backbone.text_proj.weight',
            None,
        ),
        (
            rf'head\.neck\.fpn1\.([013])\.{wb}',
            lambda m: f'neck.stages.0.{m[1]}.{m[2]}',
            None,
        ),
        (
            rf'head\.neck\.fpn2\.0\.{wb}',
            lambda m: f'neck.stages.1.0.{m[1]}',
            None,
        ),
        (
            rf'head\.neck\.{cat}\.(\d+)\.conv\.weight',
            lambda m: f'neck.{m[1]}.{m[2]}.conv.weight',
            None,
        ),
        (
            # mmcv 1.x names InstanceVG's LN2d 'norm_layer'; 'ln' if the
            # file was saved with mmcv's own LayerNorm
            rf'head\.neck\.{cat}\.(\d+)\.(?:norm_layer|ln)\.{wb}',
            lambda m: f'neck.{m[1]}.{m[2]}.ln.{m[3]}',
            None,
        ),
        (
            r'head\.unet_decoder\.conv([12])_([432])\.weight',
            lambda m: (
                f'head.mask_decoder.stages.{UNET_STAGE[m[2]]}.'
                f'{int(m[1]) - 1}.conv.weight'
            ),
            None,
        ),
        (
            rf'head\.unet_decoder\.bn([12])_([432])\.{bn}',
            lambda m: (
                f'head.mask_decoder.stages.{UNET_STAGE[m[2]]}.'
                f'{int(m[1]) - 1}.bn.{m[3]}'
            ),
            None,
        ),
        (
            rf'head\.seg_branch\.predict\.{wb}',
            lambda m: f'head.mask_decoder.mask_conv.{m[1]}',
            None,
        ),
        (
            r'head\.nt_embed\.layers\.([01])\.weight',
            lambda m: f'head.nt_branch.{nt[m[1]]}.weight',
            _linear_to_conv,
        ),
        (
            r'head\.nt_embed\.layers\.([01])\.bias',
            lambda m: f'head.nt_branch.{nt[m[1]]}.bias',
            None,
        ),
        (
            rf'head\.nt_embed\.layers\.2\.{wb}',
            lambda m: f'head.nt_branch.cls_fc.{m[1]}',
            None,
        ),
        (
            rf'head\.class_embed\.(\d+)\.{wb}',
            lambda m: f'head.cls_branches.{m[1]}.{m[2]}',
            None,
        ),
        (
            rf'head\.bbox_embed\.(\d+)\.layers\.(\d+)\.{wb}',
            lambda m: f'head.reg_branches.{m[1]}.layers.{m[2]}.{m[3]}',
            None,
        ),
        (
            rf'head\.query_pos_embedding\.{wb}',
            lambda m: f'head.query_pos.{m[1]}',
            None,
        ),
        (
            rf'head\.decoder_transformer\.reference_points\.{wb}',
            lambda m: f'head.reference_points.{m[1]}',
            None,
        ),
        (
            re.escape(DEC) + r'(\d+)\.attentions\.0\.attn\.(.+)',
            lambda m: f'head.decoder.layers.{m[1]}.self_attn.attn.{m[2]}',
            None,
        ),
        (
            re.escape(DEC) + r'(\d+)\.attentions\.1\.'
            rf'(sampling_offsets|attention_weights|value_proj|output_proj)'
            rf'\.{wb}',
            lambda m: f'head.decoder.layers.{m[1]}.cross_attn.{m[2]}.{m[3]}',
            None,
        ),
        (
            re.escape(DEC) + rf'(\d+)\.ffns\.0\.layers\.(0\.0|1)\.{wb}',
            lambda m: f'head.decoder.layers.{m[1]}.ffn.layers.{m[2]}.{m[3]}',
            None,
        ),
        (
            re.escape(DEC) + rf'(\d+)\.norms\.([012])\.{wb}',
            lambda m: f'head.decoder.layers.{m[1]}.norms.{m[2]}.{m[3]}',
            None,
        ),
        (
            re.escape(T2I) + r'layers\.0\.attentions\.([01])\.attn\.(.+)',
            lambda m: (
                'head.aqg.cross_attention.'
                f'{("self_attn", "cross_attn")[int(m[1])]}.{m[2]}'
            ),
            None,
        ),
        (
            re.escape(T2I) + rf'layers\.0\.ffns\.0\.layers\.(0\.0|1)\.{wb}',
            lambda m: f'head.aqg.cross_attention.ffn.layers.{m[1]}.{m[2]}',
            None,
        ),
        (
            re.escape(T2I) + rf'layers\.0\.norms\.([012])\.{wb}',
            lambda m: f'head.aqg.cross_attention.norms.{m[1]}.{m[2]}',
            None,
        ),
        (
            re.escape(T2I) + rf'post_norm_layer\.{wb}',
            lambda m: f'head.aqg.cross_attention.post_norm.{m[1]}',
            None,
        ),
        (
            r'head\.query_generation\.mlp\.layers\.0\.weight',
            lambda m: 'head.aqg.query_injector.mlp.layers.0.weight',
            _swap_halves,
        ),
        (
            rf'head\.query_generation\.mlp\.layers\.(\d+)\.{wb}',
            lambda m: f'head.aqg.query_injector.mlp.layers.{m[1]}.{m[2]}',
            None,
        ),
    ]


def load_instancevg_checkpoint(path: str, trust_pickle: bool = False):
    """The ``state_dict`` of an InstanceVG checkpoint, ``module.`` removed.

    The file is read with ``torch.load(weights_only=True)``; its training
    entries (scheduler state, metrics) may hold objects that safe loading
    refuses, and then ``trust_pickle=True`` reads it with full unpickling
    (only for a file from a trusted source).

    Raises:
        FileNotFoundError: No such file.
        ConversionError: Unreadable, or no ``state_dict``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such checkpoint: {path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        if not trust_pickle:
            raise ConversionError(
                f'{path} holds objects that safe loading refuses ({e}); '
                'if the file comes from a trusted source, rerun with '
                '--trust-pickle.'
            ) from e
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict') if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt)
        raise ConversionError(
            f"{path} is not an InstanceVG checkpoint: no 'state_dict' "
            f'entry (found {keys}).'
        )
    return {
        (k[len('module.') :] if k.startswith('module.') else k): v
        for k, v in state.items()
    }


def convert_state_dict(
    state: Dict[str, Tensor],
) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """Rename every key of an InstanceVG state dict (``module.`` removed).

    Returns:
        tuple[dict, dict]: The mmgres state dict and the dropped source
        keys with their reasons.

    Raises:
        ConversionError: A sentinel key is missing, a key matches no rule,
            two keys map to one target, or a tensor has the wrong rank.
    """
    missing = [k for k in SENTINELS if k not in state]
    if missing:
        raise ConversionError(
            'not an InstanceVG (aqsm query generation) checkpoint: missing '
            f'{missing}; found e.g. {sorted(state)[:5]}.'
        )
    rules = [(re.compile(p), f, t) for p, f, t in _rules()]
    dropped_rules = [(re.compile(p), r) for p, r in DROPPED.items()]
    out, dropped, unknown = {}, {}, []
    for key, value in state.items():
        reason = next((r for p, r in dropped_rules if p.fullmatch(key)), None)
        if reason is not None:
            dropped[key] = reason
            continue
        for pattern, target, transform in rules:
            m = pattern.fullmatch(key)
            if m is None:
                continue
            name = target(m)
            if name in out:
                raise ConversionError(f'two source keys map to {name}.')
            out[name] = transform(value) if transform else value
            break
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(
            f'{len(unknown)} keys outside the InstanceVG key table (a '
            f'different model or head version?): {unknown[:20]}'
        )
    return out, dropped


def convert(src: str, dst: str, trust_pickle: bool = False) -> dict:
    """Convert ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``.

    Returns:
        dict: ``source_keys``, ``converted_keys``, ``dropped_keys``
        (key -> reason).
    """
    state = load_instancevg_checkpoint(src, trust_pickle)
    converted, dropped = convert_state_dict(state)
    meta = dict(
        source=osp.basename(src),
        converter='tools/model_converters/instancevg2mmgres.py',
        layout='mmgres IGVG (configs/igvg/*_instancevg.py)',
    )
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return dict(
        source_keys=list(state),
        converted_keys=list(converted),
        dropped_keys=dropped,
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            'Convert an InstanceVG release checkpoint (state_dict keys '
            'module.vis_enc.beit3.*, module.head.*) to mmgres IGVG keys, '
            'for configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco_'
            'instancevg.py. Offline; every key is converted or dropped '
            'with a reason.'
        ),
        epilog='The output is {"state_dict": ..., "meta": ...}.',
    )
    parser.add_argument('src', help='InstanceVG checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='read a file that safe loading refuses (trusted files only)',
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        info = convert(args.src, args.dst, args.trust_pickle)
    except (ConversionError, FileNotFoundError) as e:
        print(f'instancevg2mmgres: error: {e}', file=sys.stderr)
        return 1
    print(
        f'{len(info["source_keys"])} source keys: '
        f'{len(info["converted_keys"])} converted, '
        f'{len(info["dropped_keys"])} dropped'
    )
    for key, reason in info['dropped_keys'].items():
        print(f'  dropped {key}: {reason}')
    print(f'saved {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
