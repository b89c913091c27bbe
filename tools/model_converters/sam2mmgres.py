# Copyright (c) mmgres contributors. All rights reserved.
"""Convert a segment-anything SAM checkpoint into an HF ``SamModel`` dir.

    python tools/model_converters/sam2mmgres.py SRC DST [--variant vit_h]
        [--num-heads N] [--global-attn-indexes 7 15 23 31]
        [--window-size 14] [--decoder-num-heads 8] [--prefix PREFIX]

SRC is an official segment-anything file (``sam_vit_b_01ec64.pth``,
``sam_vit_l_0b3195.pth``, ``sam_vit_h_4b8939.pth``): a bare state dict
with the keys ``image_encoder.*``, ``prompt_encoder.*`` and
``mask_decoder.*``. DST is a directory with ``config.json`` and
``model.safetensors`` that ``transformers.SamModel.from_pretrained(DST)``
reads, i.e. what the GSVA configs' ``sam_path`` (``HFSamSegmentor``'s
``name_or_path``) points at. Nothing is downloaded.

The architecture is read from the tensor shapes, so any SAM built by
segment-anything's ``ImageEncoderViT``/``PromptEncoder``/``MaskDecoder``
converts, not only the three released sizes:

- image encoder width, depth, patch size, input size (``pos_embed``),
  MLP width, neck width;
- attention heads: ``rel_pos_h`` is ``(2 * side - 1, head_dim)``, so
  heads = width / head_dim;
- global-attention blocks and window size: a global block's ``rel_pos_h``
  spans the whole patch grid (``2 * grid - 1`` rows), a windowed block's
  spans one window (``2 * window - 1`` rows);
- prompt/mask decoder width, mask-input channels, decoder depth and MLP
  width, attention downsample rate, number of mask tokens, IoU head depth
  and width.

The one thing the weights cannot tell is the number of heads in the mask
decoder's two-way transformer (no per-head tensor); segment-anything uses
8 for all three released models, which is the default of
``--decoder-num-heads``. Without relative position tensors (a SAM built
with ``use_rel_pos=False``) the encoder heads, global blocks and window
size come from ``--variant`` or the matching options.

The key table is the one of transformers' own
``models/sam/convert_sam_to_hf.py`` (which downloads from the hub and so
cannot run offline), written out here as an explicit per-key table so that
every source key must be used exactly once and every ``SamModel``
parameter filled, or the conversion stops and names the keys.
"""

import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

# segment-anything's build_sam.py: the three released image encoders.
# Heads and global blocks are also read from the weights; the table names
# the variant and serves checkpoints without relative position tensors.
SAM_VARIANTS: Dict[str, dict] = {
    'vit_b': dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        global_attn_indexes=[2, 5, 8, 11],
        window_size=14,
    ),
    'vit_l': dict(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        global_attn_indexes=[5, 11, 17, 23],
        window_size=14,
    ),
    'vit_h': dict(
        hidden_size=1280,
        num_hidden_layers=32,
        num_attention_heads=16,
        global_attn_indexes=[7, 15, 23, 31],
        window_size=14,
    ),
}

# TwoWayTransformer(num_heads=8) in build_sam.py, for every variant
SAM_DECODER_NUM_HEADS = 8

# Sam's normalisation (build_sam.py). Sam registers them as non-persistent
# buffers, so the released files do not hold them; a file that does is
# accepted only with these values, because SamModel has no place for them
# (HFSamSegmentor normalises with these values, SAM_PIXEL_MEAN/STD).
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)

# LayerNorm epsilons of segment-anything's modules. The image encoder's
# blocks use LayerNorm(eps=1e-6) (build_sam.py); LayerNorm2d (neck, mask
# downscaling, output upscaling) defaults to 1e-6; the mask decoder's
# TwoWayAttentionBlock norms are plain nn.LayerNorm, eps 1e-5. HF reads the
# last from mask_decoder_config.layer_norm_eps, whose default (and the
# value in the hub's facebook/sam-vit-* configs) is 1e-6: we write 1e-5 so
# that the converted model computes what SAM computes.
SAM_ENCODER_LN_EPS = 1e-6
SAM_PROMPT_LN_EPS = 1e-6
SAM_DECODER_LN_EPS = 1e-5

# Keys a segment-anything SAM file must have; their absence means the file
# is something else.
_ENC = 'image_encoder.'
_PROMPT = 'prompt_encoder.'
_DEC = 'mask_decoder.'


def _fail(msg: str) -> None:
    raise ValueError(f'sam2mmgres: {msg}')


def _need(sd: Dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """``sd[key]``, or an error naming the key the architecture needs."""
    if key not in sd:
        _fail(
            f'the source has no {key!r}, which a segment-anything SAM '
            'checkpoint must have; is the file complete?'
        )
    return sd[key]


def _count(sd: Dict[str, torch.Tensor], pattern: str) -> int:
    """Number of consecutive indices ``i`` for which some key matches
    ``pattern.format(i)`` as a prefix (blocks, layers, MLP layers)."""
    n = 0
    while any(k.startswith(pattern.format(n)) for k in sd):
        n += 1
    return n


def load_sam_state_dict(
    path: str, prefix: str = ''
) -> Tuple[Dict[str, torch.Tensor], int]:
    """Read a segment-anything checkpoint file.

    Args:
        path (str): The ``.pth`` file: a bare state dict, as released
            (``{'state_dict': ...}`` and ``{'model': ...}`` containers of
            fine-tuned copies are unwrapped too).
        prefix (str): Take only the keys under this prefix and strip it,
            e.g. ``'base_model.model.model.visual_model.'`` for the SAM
            inside a LISA/GSVA checkpoint. Defaults to '' (the whole file).

    Returns:
        tuple: The SAM state dict (keys ``image_encoder.*`` ...) and the
        number of keys outside ``prefix`` that were left aside.
    """
    if not osp.isfile(path):
        _fail(f'no such file: {path!r}')
    # weights_only: the released files are plain tensors; nothing in them
    # needs unpickling beyond that
    obj = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(obj, dict) and not any(
        isinstance(v, torch.Tensor) for v in obj.values()
    ):
        for container in ('state_dict', 'model'):
            if isinstance(obj.get(container), dict):
                obj = obj[container]
                break
    if not isinstance(obj, dict) or not obj:
        _fail(
            f'{path!r} holds a {type(obj).__name__}, not a state dict of '
            'tensors'
        )
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if len(sd) != len(obj):
        bad = sorted(k for k in obj if k not in sd)[:5]
        _fail(f'{path!r} has non-tensor entries, e.g. {bad}')
    skipped = 0
    if prefix:
        inside = {
            k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)
        }
        skipped = len(sd) - len(inside)
        if not inside:
            _fail(
                f'no key of {path!r} starts with prefix {prefix!r}; e.g. '
                f'{sorted(sd)[:3]}'
            )
        sd = inside
    _check_is_sam(sd, path)
    return sd, skipped


def _check_is_sam(sd: Dict[str, torch.Tensor], path: str) -> None:
    """Stop early, with a hint, on files of other models."""
    keys = sorted(sd)
    if any(k.startswith('vision_encoder.') for k in keys):
        _fail(
            f'{path!r} is already in HF SamModel layout (vision_encoder.*); '
            'load it with SamModel.from_pretrained on its directory'
        )
    if any(k.startswith('image_encoder.trunk.') for k in keys):
        _fail(
            f'{path!r} looks like a SAM 2 checkpoint, which this does '
            'not convert'
        )
    if not any(k.startswith(_ENC) for k in keys) or not any(
        k.startswith(_DEC) for k in keys
    ):
        prefixes = sorted({k.split('.')[0] for k in keys})[:8]
        _fail(
            f'{path!r} is not a segment-anything SAM checkpoint: expected '
            f"keys 'image_encoder.blocks.N...', 'prompt_encoder...', "
            f"'mask_decoder...', found top-level names {prefixes} (for a "
            'SAM nested in a larger checkpoint, give --prefix)'
        )


def _variant_of(hidden: int, depth: int) -> Optional[str]:
    for name, v in SAM_VARIANTS.items():
        if (v['hidden_size'], v['num_hidden_layers']) == (hidden, depth):
            return name
    return None


def infer_sam_config(
    sd: Dict[str, torch.Tensor],
    variant: Optional[str] = None,
    num_heads: Optional[int] = None,
    global_attn_indexes: Optional[Sequence[int]] = None,
    window_size: Optional[int] = None,
    decoder_num_heads: int = SAM_DECODER_NUM_HEADS,
) -> Tuple[dict, Optional[str]]:
    """``SamConfig`` kwargs of a segment-anything state dict.

    Args:
        sd (dict): segment-anything keys (``image_encoder.*`` ...).
        variant (str, optional): ``'vit_b'``, ``'vit_l'`` or ``'vit_h'``;
            checked against the shapes. Defaults to the variant whose width
            and depth match, if any.
        num_heads (int, optional): Image encoder heads; checked against the
            relative position tensors when there are any.
        global_attn_indexes (Sequence[int], optional): Global attention
            blocks; checked against the relative position tensors.
        window_size (int, optional): Window of the other blocks.
        decoder_num_heads (int): Heads of the mask decoder's two-way
            transformer (not in the shapes). Defaults to 8 (all released
            SAMs).

    Returns:
        tuple: The ``SamConfig`` kwargs and the variant name (None for a
        SAM of another size).
    """
    # image encoder
    proj = _need(sd, _ENC + 'patch_embed.proj.weight')
    hidden, channels, ph, pw = proj.shape
    if ph != pw:
        _fail(f'non-square patches {ph}x{pw} are not supported by SamModel')
    patch = int(ph)
    pos = _need(sd, _ENC + 'pos_embed')
    if pos.dim() != 4 or pos.shape[1] != pos.shape[2]:
        _fail(
            f'image_encoder.pos_embed has shape {tuple(pos.shape)}, '
            'expected (1, grid, grid, C)'
        )
    grid = int(pos.shape[1])
    depth = _count(sd, _ENC + 'blocks.{}.')
    if depth == 0:
        _fail('the source has no image_encoder.blocks.N.* keys')
    mlp_dim = int(_need(sd, _ENC + 'blocks.0.mlp.lin1.weight').shape[0])
    out_channels = int(_need(sd, _ENC + 'neck.0.weight').shape[0])
    use_rel_pos = _ENC + 'blocks.0.attn.rel_pos_h' in sd
    qkv_bias = _ENC + 'blocks.0.attn.qkv.bias' in sd

    found = _variant_of(int(hidden), depth)
    if variant is not None:
        if variant not in SAM_VARIANTS:
            _fail(
                f'unknown variant {variant!r}; known: {sorted(SAM_VARIANTS)}'
            )
        want = SAM_VARIANTS[variant]
        if found != variant:
            _fail(
                f'--variant {variant} has width {want["hidden_size"]} and '
                f'{want["num_hidden_layers"]} blocks, but the file has width '
                f'{hidden} and {depth} blocks'
                + (f' ({found})' if found else '')
            )
    variant = found
    known = SAM_VARIANTS.get(variant, {})

    if use_rel_pos:
        rows, head_dim = [], None
        for i in range(depth):
            rel = _need(sd, _ENC + f'blocks.{i}.attn.rel_pos_h')
            rows.append(int(rel.shape[0]))
            head_dim = int(rel.shape[1])
        if hidden % head_dim:
            _fail(
                f'rel_pos head dim {head_dim} does not divide width {hidden}'
            )
        shape_heads = int(hidden) // head_dim
        if num_heads is not None and num_heads != shape_heads:
            _fail(
                f'--num-heads {num_heads} contradicts the weights: rel_pos '
                f'tensors have head dim {head_dim}, i.e. {shape_heads} heads'
            )
        num_heads = shape_heads
        global_rows = 2 * grid - 1
        windowed = sorted({r for r in rows if r != global_rows})
        if len(windowed) > 1:
            _fail(
                f'windowed blocks have rel_pos of different sizes {windowed}'
            )
        if windowed:
            if windowed[0] % 2 == 0:
                _fail(f'rel_pos with {windowed[0]} rows is not 2 * window - 1')
            shape_window = (windowed[0] + 1) // 2
            if window_size is not None and window_size != shape_window:
                _fail(
                    f'--window-size {window_size} contradicts the weights: '
                    f'windowed blocks have rel_pos for window {shape_window}'
                )
            window_size = shape_window
            shape_global = [i for i, r in enumerate(rows) if r == global_rows]
            if (
                global_attn_indexes is not None
                and sorted(global_attn_indexes) != shape_global
            ):
                _fail(
                    f'--global-attn-indexes {list(global_attn_indexes)} '
                    'contradicts the weights: blocks '
                    f'{shape_global} have rel_pos over the whole '
                    f'{grid}x{grid} grid'
                )
            global_attn_indexes = shape_global
        else:
            # every block's rel_pos spans the whole grid: either all global,
            # or windows as large as the grid, which compute the same
            # (window_partition then neither pads nor splits)
            if global_attn_indexes is None:
                global_attn_indexes = known.get(
                    'global_attn_indexes', list(range(depth))
                )
            if window_size is None:
                window_size = known.get('window_size', grid)
            if window_size != grid and len(global_attn_indexes) != depth:
                _fail(
                    f'every block has rel_pos over the whole {grid}x{grid} '
                    f'grid, so the windowed ones need --window-size {grid}'
                )
    else:
        num_heads = num_heads or known.get('num_attention_heads')
        if global_attn_indexes is None:
            global_attn_indexes = known.get('global_attn_indexes')
        window_size = window_size or known.get('window_size')
        if (
            num_heads is None
            or global_attn_indexes is None
            or window_size is None
        ):
            _fail(
                'the image encoder has no relative position tensors, so '
                'its heads, global blocks and window size cannot be read '
                'from the weights: give --variant, or --num-heads, '
                '--global-attn-indexes and --window-size'
            )
    if hidden % num_heads:
        _fail(f'{num_heads} heads do not divide the width {hidden}')
    bad = [i for i in global_attn_indexes if not 0 <= i < depth]
    if bad:
        _fail(f'global attention indexes {bad} are outside 0..{depth - 1}')

    # prompt encoder
    pe = _need(sd, _PROMPT + 'pe_layer.positional_encoding_gaussian_matrix')
    prompt_dim = int(_need(sd, _PROMPT + 'no_mask_embed.weight').shape[1])
    if pe.shape != (2, prompt_dim // 2):
        _fail(
            f'positional_encoding_gaussian_matrix has shape '
            f'{tuple(pe.shape)}, expected (2, {prompt_dim // 2})'
        )
    mask_in = int(_need(sd, _PROMPT + 'mask_downscaling.3.weight').shape[0])
    n_points = _count(sd, _PROMPT + 'point_embeddings.{}.')

    # mask decoder
    dec_dim = int(_need(sd, _DEC + 'iou_token.weight').shape[1])
    if dec_dim != prompt_dim or out_channels != prompt_dim:
        _fail(
            f'image embedding ({out_channels}), prompt ({prompt_dim}) and '
            f'mask decoder ({dec_dim}) widths differ; SamModel needs one'
        )
    dec_depth = _count(sd, _DEC + 'transformer.layers.{}.')
    dec_mlp = int(
        _need(sd, _DEC + 'transformer.layers.0.mlp.lin1.weight').shape[0]
    )
    internal = int(
        _need(
            sd, _DEC + 'transformer.final_attn_token_to_image.q_proj.weight'
        ).shape[0]
    )
    if dec_dim % internal:
        _fail(f'cross-attention width {internal} does not divide {dec_dim}')
    if internal % decoder_num_heads:
        _fail(
            f'--decoder-num-heads {decoder_num_heads} does not divide the '
            f'cross-attention width {internal}'
        )
    n_masks = int(_need(sd, _DEC + 'mask_tokens.weight').shape[0])
    iou_depth = _count(sd, _DEC + 'iou_prediction_head.layers.{}.')
    iou_hidden = int(
        _need(sd, _DEC + 'iou_prediction_head.layers.0.weight').shape[0]
    )
    for i in range(n_masks):
        n = _count(sd, _DEC + f'output_hypernetworks_mlps.{i}.layers.{{}}.')
        if n != 3:
            # SamMaskDecoder builds these MLPs with 3 layers, always
            _fail(
                f'output_hypernetworks_mlps.{i} has {n} layers; SamModel has 3'
            )

    cfg = dict(
        vision_config=dict(
            hidden_size=int(hidden),
            num_hidden_layers=depth,
            num_attention_heads=int(num_heads),
            num_channels=int(channels),
            global_attn_indexes=[int(i) for i in global_attn_indexes],
            window_size=int(window_size),
            mlp_dim=mlp_dim,
            output_channels=out_channels,
            image_size=grid * patch,
            patch_size=patch,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            use_abs_pos=True,
            layer_norm_eps=SAM_ENCODER_LN_EPS,
            # the shared Fourier features (SamModel.shared_image_embedding)
            num_pos_feats=prompt_dim // 2,
        ),
        prompt_encoder_config=dict(
            hidden_size=prompt_dim,
            image_size=grid * patch,
            patch_size=patch,
            mask_input_channels=mask_in,
            num_point_embeddings=n_points,
            layer_norm_eps=SAM_PROMPT_LN_EPS,
        ),
        mask_decoder_config=dict(
            hidden_size=dec_dim,
            num_hidden_layers=dec_depth,
            num_attention_heads=int(decoder_num_heads),
            mlp_dim=dec_mlp,
            attention_downsample_rate=dec_dim // internal,
            num_multimask_outputs=n_masks - 1,
            iou_head_depth=iou_depth,
            iou_head_hidden_dim=iou_hidden,
            layer_norm_eps=SAM_DECODER_LN_EPS,
        ),
    )
    return cfg, variant


def _mlp_names(src: str, dst: str, depth: int) -> List[Tuple[str, str]]:
    """segment-anything's ``MLP.layers.0..d-1`` -> HF ``SamFeedForward``
    (``proj_in``, ``layers.0..d-3``, ``proj_out``)."""
    names = []
    for i in range(depth):
        if i == 0:
            tgt = 'proj_in'
        elif i == depth - 1:
            tgt = 'proj_out'
        else:
            tgt = f'layers.{i - 1}'
        names.append((f'{src}.layers.{i}', f'{dst}.{tgt}'))
    return names


def sam_key_table(cfg: dict) -> Dict[str, List[str]]:
    """Every segment-anything key of a SAM with config ``cfg`` and the
    ``SamModel`` key(s) it goes to.

    One source tensor, the prompt encoder's random Fourier matrix, goes to
    two places: segment-anything keeps one ``PositionEmbeddingRandom`` for
    both the prompts and the image-wide positional embedding, SamModel has
    ``prompt_encoder.shared_embedding`` and ``shared_image_embedding``
    (tied).
    """
    v = cfg['vision_config']
    d = cfg['mask_decoder_config']
    p = cfg['prompt_encoder_config']
    wb = ('weight', 'bias')
    pairs: List[Tuple[str, str]] = []

    def add(src, dst, params=wb):
        pairs.extend((f'{src}.{x}', f'{dst}.{x}') for x in params)

    # image encoder
    e, ve = 'image_encoder', 'vision_encoder'
    pairs.append((f'{e}.pos_embed', f'{ve}.pos_embed'))
    add(f'{e}.patch_embed.proj', f'{ve}.patch_embed.projection')
    for i in range(v['num_hidden_layers']):
        s, t = f'{e}.blocks.{i}', f'{ve}.layers.{i}'
        add(f'{s}.norm1', f'{t}.layer_norm1')
        add(f'{s}.norm2', f'{t}.layer_norm2')
        add(
            f'{s}.attn.qkv',
            f'{t}.attn.qkv',
            wb if v['qkv_bias'] else ('weight',),
        )
        add(f'{s}.attn.proj', f'{t}.attn.proj')
        if v['use_rel_pos']:
            add(f'{s}.attn', f'{t}.attn', ('rel_pos_h', 'rel_pos_w'))
        add(f'{s}.mlp.lin1', f'{t}.mlp.lin1')
        add(f'{s}.mlp.lin2', f'{t}.mlp.lin2')
    # neck: Conv2d(no bias), LayerNorm2d, Conv2d(no bias), LayerNorm2d
    add(f'{e}.neck.0', f'{ve}.neck.conv1', ('weight',))
    add(f'{e}.neck.1', f'{ve}.neck.layer_norm1')
    add(f'{e}.neck.2', f'{ve}.neck.conv2', ('weight',))
    add(f'{e}.neck.3', f'{ve}.neck.layer_norm2')

    # prompt encoder
    pr = 'prompt_encoder'
    gauss = f'{pr}.pe_layer.positional_encoding_gaussian_matrix'
    pairs.append((gauss, f'{pr}.shared_embedding.positional_embedding'))
    pairs.append((gauss, 'shared_image_embedding.positional_embedding'))
    for i in range(p['num_point_embeddings']):
        add(f'{pr}.point_embeddings.{i}', f'{pr}.point_embed.{i}', ('weight',))
    add(f'{pr}.not_a_point_embed', f'{pr}.not_a_point_embed', ('weight',))
    add(f'{pr}.no_mask_embed', f'{pr}.no_mask_embed', ('weight',))
    # mask_downscaling: Conv, LN2d, GELU, Conv, LN2d, GELU, Conv
    for src, dst in [
        (0, 'conv1'),
        (1, 'layer_norm1'),
        (3, 'conv2'),
        (4, 'layer_norm2'),
        (6, 'conv3'),
    ]:
        add(f'{pr}.mask_downscaling.{src}', f'{pr}.mask_embed.{dst}')

    # mask decoder
    m = 'mask_decoder'
    tr = f'{m}.transformer'
    attn = [f'{x}_proj' for x in 'qkv'] + ['out_proj']
    for i in range(d['num_hidden_layers']):
        s = f'{tr}.layers.{i}'
        for a in (
            'self_attn',
            'cross_attn_token_to_image',
            'cross_attn_image_to_token',
        ):
            for proj in attn:
                add(f'{s}.{a}.{proj}', f'{s}.{a}.{proj}')
        for j in range(1, 5):
            add(f'{s}.norm{j}', f'{s}.layer_norm{j}')
        add(f'{s}.mlp.lin1', f'{s}.mlp.lin1')
        add(f'{s}.mlp.lin2', f'{s}.mlp.lin2')
    for proj in attn:
        a = f'{tr}.final_attn_token_to_image.{proj}'
        add(a, a)
    add(f'{tr}.norm_final_attn', f'{tr}.layer_norm_final_attn')
    add(f'{m}.iou_token', f'{m}.iou_token', ('weight',))
    add(f'{m}.mask_tokens', f'{m}.mask_tokens', ('weight',))
    # output_upscaling: ConvTranspose, LN2d, GELU, ConvTranspose, GELU
    add(f'{m}.output_upscaling.0', f'{m}.upscale_conv1')
    add(f'{m}.output_upscaling.1', f'{m}.upscale_layer_norm')
    add(f'{m}.output_upscaling.3', f'{m}.upscale_conv2')
    for i in range(d['num_multimask_outputs'] + 1):
        name = f'{m}.output_hypernetworks_mlps.{i}'
        for s, t in _mlp_names(name, name, 3):
            add(s, t)
    name = f'{m}.iou_prediction_head'
    for s, t in _mlp_names(name, name, d['iou_head_depth']):
        add(s, t)

    table: Dict[str, List[str]] = {}
    for s, t in pairs:
        table.setdefault(s, []).append(t)
    return table


def convert_state_dict(
    sd: Dict[str, torch.Tensor], cfg: dict
) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Rename a segment-anything state dict to ``SamModel``'s keys.

    Every source key must be in the table (the pixel normalisation
    buffers, if present, are checked and dropped) and every table entry in
    the source; the targets must be exactly ``SamModel(cfg)``'s parameters
    with the same shapes. Anything else stops with the offending keys.

    Args:
        sd (dict): segment-anything state dict.
        cfg (dict): ``SamConfig`` kwargs (:func:`infer_sam_config`).

    Returns:
        tuple: The ``SamModel`` state dict and counts: ``source_keys``,
        ``consumed``, ``target_keys``.
    """
    from transformers import SamConfig, SamModel

    sd = dict(sd)
    n_source = len(sd)
    consumed = 0
    for name, ref in (
        ('pixel_mean', SAM_PIXEL_MEAN),
        ('pixel_std', SAM_PIXEL_STD),
    ):
        if name in sd:
            val = sd.pop(name).flatten().tolist()
            if len(val) != 3 or any(
                abs(a - b) > 1e-3 for a, b in zip(val, ref)
            ):
                _fail(
                    f"the source has {name}={val}, not SAM's {list(ref)}: "
                    'neither SamModel nor HFSamSegmentor (which normalises '
                    "with SAM's values) can hold it"
                )
            consumed += 1
    table = sam_key_table(cfg)
    missing = sorted(set(table) - set(sd))
    unused = sorted(set(sd) - set(table))
    if missing or unused:
        msg = []
        if missing:
            msg.append(
                f'{len(missing)} key(s) missing from the source: '
                f'{missing[:10]}'
            )
        if unused:
            msg.append(
                f'{len(unused)} source key(s) not in a SAM of the inferred '
                f'architecture: {unused[:10]}'
            )
        _fail('; '.join(msg))
    out: Dict[str, torch.Tensor] = {}
    for src, dsts in table.items():
        for dst in dsts:
            out[dst] = sd[src]
    consumed += len(table)

    # the targets are checked against SamModel itself (built on the meta
    # device: no memory, no init), so a transformers version that renames
    # a parameter fails here and not as a silently partial load
    with torch.device('meta'):
        model = SamModel(SamConfig(**cfg))
    expected = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    extra = sorted(set(out) - set(expected))
    lacking = sorted(set(expected) - set(out))
    if extra or lacking:
        _fail(
            f'the key table does not match this transformers SamModel: '
            f'not in SamModel {extra[:10]}, not filled {lacking[:10]}'
        )
    wrong = [
        f'{k}: {tuple(v.shape)} vs SamModel {expected[k]}'
        for k, v in out.items()
        if tuple(v.shape) != expected[k]
    ]
    if wrong:
        _fail(f'shape mismatch for {len(wrong)} key(s): {wrong[:10]}')
    stats = dict(
        source_keys=n_source,
        consumed=consumed,
        target_keys=len(out),
    )
    return out, stats


def convert(
    src: str,
    dst: str,
    variant: Optional[str] = None,
    num_heads: Optional[int] = None,
    global_attn_indexes: Optional[Sequence[int]] = None,
    window_size: Optional[int] = None,
    decoder_num_heads: int = SAM_DECODER_NUM_HEADS,
    prefix: str = '',
) -> dict:
    """Convert ``src`` (segment-anything ``.pth``) into the HF directory
    ``dst``; see the module docstring and :func:`infer_sam_config`.

    Returns:
        dict: ``variant``, ``config`` (the ``SamConfig`` kwargs), the key
        counts of :func:`convert_state_dict` and ``skipped_outside_prefix``.
    """
    from transformers import SamConfig, SamModel

    if osp.exists(dst) and not osp.isdir(dst):
        _fail(f'{dst!r} exists and is not a directory')
    sd, skipped = load_sam_state_dict(src, prefix)
    cfg, found = infer_sam_config(
        sd,
        variant=variant,
        num_heads=num_heads,
        global_attn_indexes=global_attn_indexes,
        window_size=window_size,
        decoder_num_heads=decoder_num_heads,
    )
    hf_sd, stats = convert_state_dict(sd, cfg)
    with torch.device('meta'):
        model = SamModel(SamConfig(**cfg))
    # assign=True puts the converted tensors in place of the meta ones
    # (no copy); save_pretrained writes the tied positional matrix once
    model.load_state_dict(hf_sd, strict=True, assign=True)
    os.makedirs(dst, exist_ok=True)
    model.save_pretrained(dst)
    return dict(
        variant=found, config=cfg, skipped_outside_prefix=skipped, **stats
    )


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            'Convert an official segment-anything SAM checkpoint '
            '(sam_vit_{b,l,h}_*.pth: a bare state dict with image_encoder.*,'
            ' prompt_encoder.*, mask_decoder.* keys) into a directory '
            '(config.json + model.safetensors) that '
            'transformers.SamModel.from_pretrained reads, for the GSVA '
            "configs' sam_path. The architecture is read from the weights."
        )
    )
    parser.add_argument(
        'src', help='segment-anything .pth file, e.g. sam_vit_h_4b8939.pth'
    )
    parser.add_argument(
        'dst',
        help='output directory (created): config.json + model.safetensors, '
        'for HFSamSegmentor(name_or_path=DST)',
    )
    parser.add_argument(
        '--variant',
        choices=sorted(SAM_VARIANTS),
        help='released size; checked against the weights (default: inferred)',
    )
    parser.add_argument(
        '--num-heads',
        type=int,
        help='image encoder heads (default: from the rel_pos tensors, or '
        'the variant)',
    )
    parser.add_argument(
        '--global-attn-indexes',
        type=int,
        nargs='+',
        metavar='I',
        help='global attention blocks (default: from the rel_pos tensors, '
        'or the variant)',
    )
    parser.add_argument(
        '--window-size',
        type=int,
        help='window of the other blocks (default: from the rel_pos '
        'tensors, or the variant)',
    )
    parser.add_argument(
        '--decoder-num-heads',
        type=int,
        default=SAM_DECODER_NUM_HEADS,
        help='heads of the mask decoder transformer; not in the weights '
        '(default: %(default)s, as all released SAMs)',
    )
    parser.add_argument(
        '--prefix',
        default='',
        help='convert only the keys under this prefix, stripped (e.g. the '
        'SAM inside a LISA/GSVA checkpoint); default: the whole file',
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        info = convert(
            args.src,
            args.dst,
            variant=args.variant,
            num_heads=args.num_heads,
            global_attn_indexes=args.global_attn_indexes,
            window_size=args.window_size,
            decoder_num_heads=args.decoder_num_heads,
            prefix=args.prefix,
        )
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    v = info['config']['vision_config']
    print(
        f'converted {args.src} -> {args.dst}: '
        f'{info["variant"] or "non-standard size"} (width '
        f'{v["hidden_size"]}, {v["num_hidden_layers"]} blocks, '
        f'{v["num_attention_heads"]} heads, global blocks '
        f'{v["global_attn_indexes"]}, {v["image_size"]} px); '
        f'{info["consumed"]}/{info["source_keys"]} source keys used, '
        f'{info["target_keys"]} SamModel tensors filled'
        + (
            f'; {info["skipped_outside_prefix"]} keys outside the prefix '
            'ignored'
            if args.prefix
            else ''
        )
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
