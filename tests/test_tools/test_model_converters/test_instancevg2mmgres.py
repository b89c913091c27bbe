"""tools/model_converters/instancevg2mmgres.py on a fixture in InstanceVG's
key layout.

InstanceVG (mmdet 2.x, CUDA-only code paths) cannot run here, so the
fixture is written from its code: every name and shape of
``MIXGrefUniModel`` with ``UniGRefDeformableHead`` (``'aqsm'`` query
generation), at tiny sizes, under ``module.`` as DDP saves it, next to
``optimizer`` / ``scheduler`` entries. The BEiT-3 part uses torchscale's
names (InstanceVG's ``beit3_base.BEiT3`` builds torchscale's modules).
"""

import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import tiny_beit3_cfg
from mmgres.utils import register_all_modules

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
TOOL = osp.join(REPO, 'tools', 'model_converters', 'instancevg2mmgres.py')
LEAF = osp.join(
    REPO, 'configs/igvg/igvg_beit3-base_1xb16-10e_grefcoco_instancevg.py'
)
SYNTH = osp.join(REPO, 'configs/_base_/datasets/synthetic_grefcoco.py')
C, NQ, LAYERS, HEADS, POINTS, FFN_DEC, FFN_T2I, SIZE = (
    32,
    4,
    2,
    2,
    2,
    32,
    64,
    64,
)

register_all_modules(init_default_scope=False)
sys.path.insert(0, REPO)
from tools.model_converters.instancevg2mmgres import (  # noqa: E402
    ConversionError,
    convert_state_dict,
)


def tiny_model_cfg():
    """The release config's model, shrunk (random init, 64 px)."""
    cfg = Config.fromfile(LEAF).model
    cfg.backbone = tiny_beit3_cfg(img_size=SIZE, out_channels=C, max_length=12)
    cfg.neck.update(in_channels=C, out_channels=C)
    head = cfg.head
    head.update(embed_dims=C, num_queries=NQ)
    head.nt_branch.feat_channels = C
    head.aqg.cross_attention.update(
        num_heads=HEADS, ffn_cfg=dict(feedforward_channels=FFN_T2I)
    )
    dec = head.decoder
    dec.num_layers = LAYERS
    dec.layer_cfg.self_attn_cfg.update(embed_dims=C, num_heads=HEADS)
    dec.layer_cfg.cross_attn_cfg.update(
        embed_dims=C, num_heads=HEADS, num_points=POINTS
    )
    dec.layer_cfg.ffn_cfg.update(embed_dims=C, feedforward_channels=FFN_DEC)
    cfg.test_cfg.max_per_image = NQ
    return cfg


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(cfg)


def _attn(prefix, out):
    out[prefix + 'in_proj_weight'] = (3 * C, C)
    out[prefix + 'in_proj_bias'] = (3 * C,)
    out[prefix + 'out_proj.weight'] = (C, C)
    out[prefix + 'out_proj.bias'] = (C,)


def _lin(prefix, o, i, out, bias=True):
    out[prefix + 'weight'] = (o, i)
    if bias:
        out[prefix + 'bias'] = (o,)


def instancevg_shapes(beit3_keys):
    """Name -> shape of InstanceVG's state dict (module. removed)."""
    s = {f'vis_enc.{k}': v for k, v in beit3_keys.items()}
    h = 'head.'
    E = beit3_keys['beit3.text_embed.weight'][1]
    s[h + 'img_embedding.weight'] = (C, E, 1, 1)
    _lin(h + 'lan_embedding.', C, E, s, bias=False)
    _lin(h + 'query_embedding.', C, E, s, bias=False)
    # SimpleFPN(backbone_channel=C, in_channels=[C/4, C/2, C, C]), LN2d
    s[h + 'neck.fpn1.0.weight'] = (C, C // 2, 2, 2)
    s[h + 'neck.fpn1.0.bias'] = (C // 2,)
    s[h + 'neck.fpn1.1.weight'] = s[h + 'neck.fpn1.1.bias'] = (C // 2,)
    s[h + 'neck.fpn1.3.weight'] = (C // 2, C // 4, 2, 2)
    s[h + 'neck.fpn1.3.bias'] = (C // 4,)
    s[h + 'neck.fpn2.0.weight'] = (C, C // 2, 2, 2)
    s[h + 'neck.fpn2.0.bias'] = (C // 2,)
    for i, c_in in enumerate([C // 4, C // 2, C, C]):
        for kind, c, k in (('lateral_convs', c_in, 1), ('fpn_convs', C, 3)):
            p = f'{h}neck.{kind}.{i}.'
            s[p + 'conv.weight'] = (C, c, k, k)
            s[p + 'norm_layer.weight'] = s[p + 'norm_layer.bias'] = (C,)
    # UnetDecoder(C): conv{1,2}_{4,3,2} (no bias) + bn
    for k in '432':
        for j in '12':
            s[f'{h}unet_decoder.conv{j}_{k}.weight'] = (
                C,
                2 * C if j == '1' else C,
                3,
                3,
            )
            for b in ('weight', 'bias', 'running_mean', 'running_var'):
                s[f'{h}unet_decoder.bn{j}_{k}.{b}'] = (C,)
            s[f'{h}unet_decoder.bn{j}_{k}.num_batches_tracked'] = ()
    s[h + 'seg_branch.predict.weight'] = (1, C, 1, 1)
    s[h + 'seg_branch.predict.bias'] = (1,)
    for j, o in enumerate((C, C, 2)):
        _lin(f'{h}nt_embed.layers.{j}.', o, C, s)
    for i in range(LAYERS):  # shared branches, one entry per layer
        _lin(f'{h}class_embed.{i}.', 2, C, s)
        for j, o in enumerate((C, C, 4)):
            _lin(f'{h}bbox_embed.{i}.layers.{j}.', o, C, s)
    s[h + 'proj_pixel_level_cons.vis.weight'] = (C // 2, C, 1, 1)
    s[h + 'proj_pixel_level_cons.vis.bias'] = (C // 2,)
    _lin(h + 'proj_pixel_level_cons.txt.', C // 2 + 1, C, s)
    q = h + 'query_generation.'
    s[q + 'query_embed.weight'] = (NQ, C)
    t = q + 'T2I_decoder.layers.0.'
    _attn(t + 'attentions.0.attn.', s)
    _attn(t + 'attentions.1.attn.', s)
    _lin(t + 'ffns.0.layers.0.0.', FFN_T2I, C, s)
    _lin(t + 'ffns.0.layers.1.', C, FFN_T2I, s)
    for n in range(3):
        s[f'{t}norms.{n}.weight'] = s[f'{t}norms.{n}.bias'] = (C,)
    s[q + 'T2I_decoder.post_norm_layer.weight'] = (C,)
    s[q + 'T2I_decoder.post_norm_layer.bias'] = (C,)
    for j, i in enumerate((2 * C, C, C)):
        _lin(f'{q}mlp.layers.{j}.', C, i, s)
    d = h + 'decoder_transformer.'
    s[d + 'level_embeds'] = (4, C)
    _lin(d + 'reference_points.', 2, C, s)
    for n in range(LAYERS):
        p = f'{d}decoder.layers.{n}.'
        _attn(p + 'attentions.0.attn.', s)
        a = p + 'attentions.1.'
        _lin(a + 'sampling_offsets.', HEADS * 4 * POINTS * 2, C, s)
        _lin(a + 'attention_weights.', HEADS * 4 * POINTS, C, s)
        _lin(a + 'value_proj.', C, C, s)
        _lin(a + 'output_proj.', C, C, s)
        _lin(p + 'ffns.0.layers.0.0.', FFN_DEC, C, s)
        _lin(p + 'ffns.0.layers.1.', C, FFN_DEC, s)
        for m in range(3):
            s[f'{p}norms.{m}.weight'] = s[f'{p}norms.{m}.bias'] = (C,)
    _lin(h + 'query_pos_embedding.', C, 2, s)
    s[h + 'detrloss.criterion.empty_weight'] = (2,)
    return s


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """(path of an official-format fixture, its state dict)."""
    torch.manual_seed(0)
    model = build(tiny_model_cfg())
    beit3 = {
        k[len('backbone.') :]: tuple(v.shape)
        for k, v in model.state_dict().items()
        if k.startswith('backbone.beit3.')
    }
    state = {}
    for k, shape in instancevg_shapes(beit3).items():
        if k.endswith('num_batches_tracked'):
            state[k] = torch.tensor(7)
        elif k.endswith('running_var'):
            state[k] = torch.rand(shape) + 0.5
        else:
            state[k] = torch.randn(shape) * 0.1
    path = str(tmp_path_factory.mktemp('release') / 'InstanceVG-tiny.pth')
    torch.save(
        dict(
            state_dict={'module.' + k: v for k, v in state.items()},
            optimizer=dict(state={}, param_groups=[dict(lr=5e-4)]),
            scheduler=dict(last_epoch=10),
            epoch=9,
            lr=5e-6,
        ),
        path,
    )
    return path, state


def test_every_key_consumed_and_every_parameter_filled(release):
    _, state = release
    converted, dropped = convert_state_dict(state)
    assert len(converted) + len(dropped) == len(state)
    assert sorted(dropped) == sorted(
        [
            'head.query_embedding.weight',
            'head.query_generation.query_embed.weight',
            'head.proj_pixel_level_cons.vis.weight',
            'head.proj_pixel_level_cons.vis.bias',
            'head.proj_pixel_level_cons.txt.weight',
            'head.proj_pixel_level_cons.txt.bias',
            'head.decoder_transformer.level_embeds',
            'head.detrloss.criterion.empty_weight',
        ]
    )
    model = build(tiny_model_cfg())
    # strict: no mmgres entry left unfilled, no converted key unused
    model.load_state_dict(converted, strict=True)
    ours = model.state_dict()
    # tensors moved, not just renamed: a few checked by hand
    torch.testing.assert_close(
        ours['backbone.img_proj.weight'],
        state['head.img_embedding.weight'][:, :, 0, 0],
    )
    torch.testing.assert_close(
        ours['head.nt_branch.pixel_mlp.2.weight'][:, :, 0, 0],
        state['head.nt_embed.layers.1.weight'],
    )
    torch.testing.assert_close(
        ours['head.mask_decoder.stages.1.1.bn.running_var'],
        state['head.unet_decoder.bn2_3.running_var'],
    )
    src = state['head.query_generation.mlp.layers.0.weight']  # [text; pt]
    got = ours['head.aqg.query_injector.mlp.layers.0.weight']  # [pt; text]
    torch.testing.assert_close(got[:, :C], src[:, C:])
    torch.testing.assert_close(got[:, C:], src[:, :C])


def test_query_injector_swap_is_exact(release):
    # InstanceVG: mlp(cat(text, point)); ours: mlp(cat(point, text))
    _, state = release
    converted, _ = convert_state_dict(state)
    model = build(tiny_model_cfg()).eval()
    model.load_state_dict(converted)
    text, point = torch.randn(1, NQ, C), torch.randn(1, NQ, C)
    w = [
        state[f'head.query_generation.mlp.layers.{j}.weight']
        for j in (0, 1, 2)
    ]
    b = [
        state[f'head.query_generation.mlp.layers.{j}.bias'] for j in (0, 1, 2)
    ]
    x = torch.cat([text, point], -1)
    for j in range(3):
        x = x @ w[j].T + b[j]
        x = x.relu() if j < 2 else x
    got = model.head.aqg.query_injector(point, text)
    torch.testing.assert_close(got, x, rtol=1e-5, atol=1e-6)


def test_bad_inputs_name_the_problem(release, tmp_path):
    _, state = release
    extra = dict(state, **{'head.something_new.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match='something_new'):
        convert_state_dict(extra)
    part = {k: v for k, v in state.items() if 'T2I' not in k}
    with pytest.raises(ConversionError, match='post_norm_layer'):
        convert_state_dict(part)
    bad = tmp_path / 'bad.pth'
    torch.save(dict(model={}), str(bad))
    res = subprocess.run(
        [sys.executable, TOOL, str(bad), str(tmp_path / 'o.pth')],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "no 'state_dict'" in res.stderr


def test_tools_test_runs_on_the_converted_checkpoint(release, tmp_path):
    from mmgres.datasets import generate_synthetic_grefcoco

    path, _ = release
    dst = str(tmp_path / 'igvg_instancevg.pth')
    res = subprocess.run(
        [sys.executable, TOOL, path, dst],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert '8 dropped' in res.stdout
    ckpt = torch.load(dst, weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}

    root = str(tmp_path / 'synthetic') + '/'
    generate_synthetic_grefcoco(
        root, num_images=dict(testA=1), img_size=SIZE, progress=False
    )
    cfg = Config.fromfile(LEAF)
    cfg.model = tiny_model_cfg()
    loader = Config.fromfile(SYNTH).test_dataloader
    loader.dataset.data_root = root
    for step in loader.dataset.pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (SIZE, SIZE)
    loader.batch_size = 2
    loader.num_workers = 0
    loader.persistent_workers = False
    cfg.test_dataloader = loader
    cfg_path = str(tmp_path / 'igvg_instancevg_tiny.py')
    cfg.dump(cfg_path)
    res = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'test.py'),
            cfg_path,
            dst,
            '--work-dir',
            str(tmp_path / 'work'),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert 'gres/gIoU' in out and 'grec/' in out
