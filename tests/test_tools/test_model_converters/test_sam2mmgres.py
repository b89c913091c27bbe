"""tools/model_converters/sam2mmgres.py against segment-anything itself.

A tiny SAM is built with segment-anything's own modules and random
weights, saved as the released files are (``torch.save`` of the bare
``state_dict()``), converted with the tool's CLI, and loaded the way the
GSVA configs load SAM (``HFSamSegmentor(name_or_path=DST,
pretrained=True)``, i.e. ``SamModel.from_pretrained``). Image embeddings,
masks and IoU predictions for point and box prompts must then match
segment-anything's.
"""

import contextlib
import importlib.util
import io
import os
import os.path as osp
import subprocess
import sys
from functools import partial

import pytest
import torch
from tool_utils import REPO, tool_env

from mmgres.registry import MODELS

CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'sam2mmgres.py')

# float32 on CPU. Both sides run the same operations on the same weights,
# but in other groupings (HF uses SDPA and nn.LayerNorm on permuted maps,
# segment-anything a manual softmax and LayerNorm2d), so results agree to
# rounding: about 1e-7 relative. atol covers values near zero, where a
# relative bound means nothing: 1e-5 is ~1e-5 of the outputs' scale (O(1)).
RTOL, ATOL = 1e-5, 1e-5


def _load_converter():
    spec = importlib.util.spec_from_file_location('sam2mmgres', CONVERTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


conv = _load_converter()


def _segment_anything_modeling():
    """``segment_anything.modeling`` without ``segment_anything/__init__``.

    The package's ``__init__`` imports its predictor and automatic mask
    generator, which import torchvision (absent here: there is no CPU
    torchvision matching this torch). The model classes live in the
    ``modeling`` subpackage, which imports only torch and numpy, so it is
    loaded on its own, under its own name, from the installed files.
    """
    spec = importlib.util.find_spec('segment_anything')
    if spec is None:
        pytest.skip('segment-anything is not installed')
    name = 'segment_anything.modeling'
    if name in sys.modules:
        return sys.modules[name]
    root = osp.join(spec.submodule_search_locations[0], 'modeling')
    sub = importlib.util.spec_from_file_location(
        name, osp.join(root, '__init__.py'), submodule_search_locations=[root]
    )
    mod = importlib.util.module_from_spec(sub)
    sys.modules[name] = mod
    sub.loader.exec_module(mod)
    return mod


# segment-anything's build_sam.py with tiny sizes: a 3-block ViT of width
# 32 with 2 heads over a 64 px input (8x8 patches of 8 px), block 1 global
# and blocks 0 and 2 in 3x3 windows (the grid is padded to 9x9 and split), a
# mask decoder of width 32 (2 heads, cross-attention downsampled by 2) and
# an IoU head 24 wide, so that no width is inferred from another by chance.
TINY = dict(
    embed_dim=32,
    depth=3,
    num_heads=2,
    global_attn_indexes=[1],
    window_size=3,
    img_size=64,
    patch_size=8,
    prompt_dim=32,
    decoder_heads=2,
    iou_hidden=24,
)


def _build_tiny_sam(seed=0):
    m = _segment_anything_modeling()
    t = TINY
    grid = t['img_size'] // t['patch_size']
    sam = m.Sam(
        image_encoder=m.ImageEncoderViT(
            img_size=t['img_size'],
            patch_size=t['patch_size'],
            embed_dim=t['embed_dim'],
            depth=t['depth'],
            num_heads=t['num_heads'],
            mlp_ratio=4,
            out_chans=t['prompt_dim'],
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=t['window_size'],
            global_attn_indexes=t['global_attn_indexes'],
        ),
        prompt_encoder=m.PromptEncoder(
            embed_dim=t['prompt_dim'],
            image_embedding_size=(grid, grid),
            input_image_size=(t['img_size'], t['img_size']),
            mask_in_chans=16,
        ),
        mask_decoder=m.MaskDecoder(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(
                depth=2,
                embedding_dim=t['prompt_dim'],
                mlp_dim=64,
                num_heads=t['decoder_heads'],
            ),
            transformer_dim=t['prompt_dim'],
            iou_head_depth=3,
            iou_head_hidden_dim=t['iou_hidden'],
        ),
    )
    # segment-anything initialises pos_embed and rel_pos to zeros and the
    # norms to 1/0: randomise every tensor, so that a swapped or transposed
    # tensor (rel_pos_h/w, x/y, a norm) changes the outputs
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sam.state_dict().items():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith('positional_encoding_gaussian_matrix'):
                p.copy_(noise)  # N(0, 1), as SAM's
            elif p.dim() == 1 and 'norm' in name and name.endswith('weight'):
                p.copy_(1 + 0.1 * noise)
            elif p.dim() >= 2 and not name.endswith(
                ('pos_embed', 'rel_pos_h', 'rel_pos_w')
            ):
                # Linear: gain 2 over fan-in keeps the mask logits O(1)
                # through the ReLU MLPs (std ~0.5), so that the tolerance
                # is small against them
                p.copy_(
                    2 * noise / p.shape[-1] ** 0.5
                    if p.dim() == 2
                    else noise * 0.2
                )
            else:
                p.copy_(0.2 * noise)
    return sam.eval()


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """The tiny SAM, its released-layout file and the CLI's output dir."""
    tmp = tmp_path_factory.mktemp('sam2mmgres')
    sam = _build_tiny_sam()
    src = str(tmp / 'sam_vit_tiny.pth')
    # the released files: torch.save of Sam.state_dict() (pixel_mean and
    # pixel_std are non-persistent buffers, so not in it)
    torch.save(sam.state_dict(), src)
    dst = str(tmp / 'sam-hf')
    # the CLI's main() in-process (argparse included); test_cli_help runs
    # the script itself in a subprocess
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = conv.main(
            [src, dst, '--decoder-num-heads', str(TINY['decoder_heads'])]
        )
    assert rc == 0, out.getvalue()
    return sam, src, dst, out.getvalue()


def test_cli_help():
    proc = _run_cli('--help')
    assert proc.returncode == 0, proc.stdout
    text = ' '.join(proc.stdout.split())
    assert 'sam_vit_{b,l,h}_*.pth' in text
    assert 'config.json + model.safetensors' in text
    assert 'SamModel.from_pretrained' in text


def test_released_file_layout_is_a_bare_state_dict(converted):
    sam, src, _, _ = converted
    obj = torch.load(src, weights_only=True)
    assert set(obj) == set(sam.state_dict())
    assert 'image_encoder.blocks.0.attn.rel_pos_h' in obj
    assert not any(k.startswith(('pixel_', 'vision_encoder')) for k in obj)


def test_key_coverage(converted):
    sam, src, dst, stdout = converted
    sd = sam.state_dict()
    cfg, variant = conv.infer_sam_config(
        sd, decoder_num_heads=TINY['decoder_heads']
    )
    hf_sd, stats = conv.convert_state_dict(sd, cfg)
    # every source key used, none left over
    assert stats['source_keys'] == stats['consumed'] == len(sd)
    table = conv.sam_key_table(cfg)
    assert set(table) == set(sd)
    # every SamModel parameter filled, from the table, bit for bit
    from transformers import SamModel

    model, info = SamModel.from_pretrained(dst, output_loading_info=True)
    assert not info['missing_keys'] and not info['unexpected_keys']
    assert not info['mismatched_keys'] and not info['error_msgs']
    target = model.state_dict()
    assert set(target) == set(hf_sd) and stats['target_keys'] == len(target)
    for s, dsts in table.items():
        for d in dsts:
            assert torch.equal(target[d], sd[s]), (s, d)
    assert f'{len(sd)}/{len(sd)} source keys used' in stdout
    assert variant is None and 'non-standard size' in stdout


def test_architecture_read_from_shapes(converted):
    _, _, dst, _ = converted
    from transformers import SamConfig

    c = SamConfig.from_pretrained(dst)
    v, p, d = c.vision_config, c.prompt_encoder_config, c.mask_decoder_config
    t = TINY
    assert (v.hidden_size, v.num_hidden_layers) == (t['embed_dim'], t['depth'])
    # heads from rel_pos head_dim, global blocks and window from rel_pos rows
    assert v.num_attention_heads == t['num_heads']
    assert list(v.global_attn_indexes) == t['global_attn_indexes']
    assert v.window_size == t['window_size']
    assert (v.image_size, v.patch_size) == (t['img_size'], t['patch_size'])
    assert v.mlp_dim == 4 * t['embed_dim'] and v.num_pos_feats == 16
    assert p.hidden_size == t['prompt_dim'] and p.mask_input_channels == 16
    assert d.num_attention_heads == t['decoder_heads']
    assert d.iou_head_hidden_dim == t['iou_hidden'] and d.iou_head_depth == 3
    assert d.attention_downsample_rate == 2 and d.num_multimask_outputs == 3
    # SAM's TwoWayAttentionBlock norms are nn.LayerNorm (eps 1e-5)
    assert d.layer_norm_eps == 1e-5


def _image(seed=1, hw=(64, 48)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((3, *hw), generator=g) * 255


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=ATOL)
    return (actual - expected).abs().max().item()


@pytest.mark.parametrize('multimask', [True, False])
def test_sammodel_matches_segment_anything(converted, multimask):
    """Sam.forward (segment-anything's end-to-end path) vs SamModel on the
    same normalised, padded input and the same prompts.

    Both take prompt coordinates in the frame of the model input (after
    ResizeLongestSide, before padding) and add half a pixel themselves, so
    the same numbers go to both.
    """
    from transformers import SamModel

    sam, _, dst, _ = converted
    hf = SamModel.from_pretrained(dst).eval()
    img = _image()
    points = torch.tensor([[[20.3, 41.7], [5.0, 12.5]]])  # (1, 2, 2) x, y
    labels = torch.tensor([[1, 0]])
    box = torch.tensor([[4.5, 10.0, 40.0, 57.25]])  # (1, 4) x1 y1 x2 y2
    with torch.no_grad():
        ref = sam(
            [
                dict(
                    image=img,
                    original_size=(70, 52),
                    point_coords=points,
                    point_labels=labels,
                ),
                dict(image=img, original_size=(70, 52), boxes=box),
            ],
            multimask_output=multimask,
        )
        pixels = sam.preprocess(img)[None]
        ref_emb = sam.image_encoder(pixels)
        emb = hf.get_image_embeddings(pixels)
        out_pt = hf(
            image_embeddings=emb,
            input_points=points[None],
            input_labels=labels[None],
            multimask_output=multimask,
        )
        out_box = hf(
            pixel_values=pixels,
            input_boxes=box[None],
            multimask_output=multimask,
        )
    diffs = [_close(emb, ref_emb)]
    for out, r in [(out_pt, ref[0]), (out_box, ref[1])]:
        # HF: (images, prompts, masks, h, w); segment-anything: (prompts,
        # masks, h, w) per image
        diffs.append(_close(out.pred_masks[0], r['low_res_logits']))
        diffs.append(_close(out.iou_scores[0], r['iou_predictions']))
    assert ref[0]['low_res_logits'].shape[1] == (3 if multimask else 1)
    # the outputs are not trivially small, so the tolerance means something
    assert ref_emb.abs().max() > 0.5
    assert all(r['low_res_logits'].std() > 0.3 for r in ref)
    print(f'max abs diff (emb, pt mask, pt iou, box mask, box iou): {diffs}')


def test_hf_sam_segmentor_loads_converted_dir(converted):
    """The GSVA configs' path: HFSamSegmentor(name_or_path=sam_path,
    pretrained=True), then preprocess, encode, decode by sparse prompt
    embeddings and postprocess, vs the same steps in segment-anything."""
    sam, _, dst, _ = converted
    seg = MODELS.build(
        dict(type='HFSamSegmentor', name_or_path=dst, pretrained=True)
    ).eval()
    img = _image(seed=2, hw=(64, 40))
    with torch.no_grad():
        pixels, sizes = seg.preprocess(img[None], [(64, 40)])
        _close(pixels[0], sam.preprocess(img))
        emb = seg.encode(pixels)
        ref_emb = sam.image_encoder(sam.preprocess(img)[None])
        _close(emb, ref_emb)
        # GSVA's prompts are projected [SEG] states; here, two prompts
        # of two tokens each, taken from SAM's prompt encoder
        sparse, dense = sam.prompt_encoder(
            points=(
                torch.tensor([[[10.0, 20.0]], [[30.0, 7.5]]]),
                torch.tensor([[1], [1]]),
            ),
            boxes=None,
            masks=None,
        )
        ref_low, _ = sam.mask_decoder(
            image_embeddings=ref_emb,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        low = seg.decode(emb[0], sparse)
        _close(low, ref_low[:, 0])
        masks = seg.postprocess(low, sizes[0], (80, 50))
        ref_masks = sam.postprocess_masks(ref_low, sizes[0], (80, 50))
        _close(masks, ref_masks[:, 0])


def test_prefix_extracts_nested_sam(converted, tmp_path):
    """A SAM nested in a larger checkpoint (LISA/GSVA's visual_model)."""
    sam, src, dst, _ = converted
    prefix = 'base_model.model.model.visual_model.'
    nested = {prefix + k: v for k, v in sam.state_dict().items()}
    nested['base_model.model.lm_head.weight'] = torch.zeros(3, 2)
    path = str(tmp_path / 'nested.pth')
    torch.save(nested, path)
    info = conv.convert(
        path, str(tmp_path / 'out'), prefix=prefix, decoder_num_heads=2
    )
    assert info['skipped_outside_prefix'] == 1
    assert info['consumed'] == len(sam.state_dict())
    from safetensors.torch import load_file

    a = load_file(osp.join(dst, 'model.safetensors'))
    b = load_file(str(tmp_path / 'out' / 'model.safetensors'))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    'variant, hidden, depth, heads, global_idx',
    [
        ('vit_b', 768, 12, 12, [2, 5, 8, 11]),
        ('vit_l', 1024, 24, 16, [5, 11, 17, 23]),
        ('vit_h', 1280, 32, 16, [7, 15, 23, 31]),
    ],
)
def test_released_sizes(variant, hidden, depth, heads, global_idx):
    """The three released architectures, built by segment-anything on the
    meta device (shapes only, no memory): inferred config and key table
    match SamModel and mmgres' KNOWN_SAM_ARCHS."""
    m = _segment_anything_modeling()
    from mmgres.models.segmentors import KNOWN_SAM_ARCHS

    with torch.device('meta'):
        sam = m.Sam(
            image_encoder=m.ImageEncoderViT(
                depth=depth,
                embed_dim=hidden,
                img_size=1024,
                mlp_ratio=4,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                num_heads=heads,
                patch_size=16,
                qkv_bias=True,
                use_rel_pos=True,
                global_attn_indexes=global_idx,
                window_size=14,
                out_chans=256,
            ),
            prompt_encoder=m.PromptEncoder(
                embed_dim=256,
                image_embedding_size=(64, 64),
                input_image_size=(1024, 1024),
                mask_in_chans=16,
            ),
            mask_decoder=m.MaskDecoder(
                num_multimask_outputs=3,
                transformer=m.TwoWayTransformer(
                    depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8
                ),
                transformer_dim=256,
                iou_head_depth=3,
                iou_head_hidden_dim=256,
            ),
        )
    sd = sam.state_dict()
    cfg, found = conv.infer_sam_config(sd)
    assert found == variant
    ours = {
        'vit_b': 'sam-vit-base',
        'vit_l': 'sam-vit-large',
        'vit_h': 'sam-vit-huge',
    }[variant]
    known = KNOWN_SAM_ARCHS[ours]
    for section in ('vision_config', 'prompt_encoder_config'):
        for k, val in known[section].items():
            assert cfg[section][k] == (
                list(val) if isinstance(val, tuple) else val
            ), (section, k)
    assert cfg['mask_decoder_config']['num_attention_heads'] == 8
    hf_sd, stats = conv.convert_state_dict(sd, cfg)
    assert stats['consumed'] == stats['source_keys'] == len(sd)
    # conv.convert_state_dict checked the targets against SamModel itself
    assert stats['target_keys'] == len(sd) + 1  # the tied Fourier matrix
    other = 'vit_h' if variant == 'vit_b' else 'vit_b'
    with pytest.raises(ValueError, match=f'--variant {other} has width'):
        conv.infer_sam_config(sd, variant=other)


def _run_cli(*args):
    return subprocess.run(
        [sys.executable, CONVERTER, *args],
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


def test_bad_inputs_name_the_problem(converted, tmp_path):
    sam, src, _, _ = converted
    sd = sam.state_dict()

    def save(obj):
        path = str(tmp_path / f'{len(os.listdir(tmp_path))}.pth')
        torch.save(obj, path)
        return path

    def fails(obj, match, **kw):
        with pytest.raises(ValueError, match=match):
            conv.convert(save(obj), str(tmp_path / 'o'), **kw)

    # a file of another model: mmdet's Swin layout
    fails(
        {'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3, 1)},
        'not a segment-anything SAM checkpoint',
    )
    # already converted
    fails(
        {'vision_encoder.pos_embed': torch.zeros(1)},
        'already in HF SamModel layout',
    )
    # a key missing: named
    missing = dict(sd)
    del missing['mask_decoder.transformer.layers.1.norm3.bias']
    fails(
        missing,
        r"missing from the source: \['mask_decoder.transformer.layers.1"
        r".norm3.bias'\]",
        decoder_num_heads=2,
    )
    # a key left over: named
    extra = dict(sd, **{'image_encoder.blocks.0.attn.extra': torch.zeros(1)})
    fails(extra, 'image_encoder.blocks.0.attn.extra', decoder_num_heads=2)
    # heads that contradict the rel_pos tensors
    fails(sd, '--num-heads 4 contradicts the weights', num_heads=4)
    # decoder heads that cannot divide the attention width
    fails(sd, '--decoder-num-heads 3 does not divide', decoder_num_heads=3)
    # non-default pixel normalisation has no home in SamModel
    norm = dict(sd, pixel_mean=torch.zeros(3, 1, 1))
    fails(norm, 'pixel_mean', decoder_num_heads=2)
    # the CLI prints the error and exits 1, without a traceback
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = conv.main([save({'foo': torch.zeros(1)}), str(tmp_path / 'x')])
    assert rc == 1
    assert err.getvalue().startswith('error: sam2mmgres:')
    assert 'not a segment-anything SAM checkpoint' in err.getvalue()
