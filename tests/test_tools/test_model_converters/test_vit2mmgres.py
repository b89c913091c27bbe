"""tools/model_converters/vit2mmgres.py against timm's own ViT.

A tiny timm ``VisionTransformer`` with random weights is saved in timm's
layout, converted, loaded the way RaAM's config loads it (mmseg's
``init_cfg=dict(type='Pretrained')``), and run on the same image as timm.

timm cannot be imported without torchvision (checked in 0.4.12, 0.6.13,
0.9.16 and 1.0.31: ``timm.models`` imports ``timm.data``, which imports
torchvision's transforms and datasets; since 0.9 ``timm.layers`` also
imports torchvision's ``FrozenBatchNorm2d``), and there is no torchvision
for this torch. While timm is imported, :func:`_torchvision_stand_in` puts
a stand-in in ``sys.modules`` with exactly the names timm imports at import
time; each is a class that raises when called or instantiated. The ViT
never touches them (a use would fail the test, not change its numbers);
optional imports that timm guards with ``try`` are not served, so timm takes
its own "torchvision feature missing" path. The stand-in and timm are
removed from ``sys.modules`` afterwards.
"""

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os.path as osp
import re
import sys
import types

import pytest
import torch

REPO = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
)
TOOL = osp.join(REPO, 'tools', 'model_converters', 'vit2mmgres.py')
RAAM_VIT = osp.join(
    REPO, 'configs', '_base_', 'models', 'raam_vit-b_bert-base.py'
)

# what timm 1.0.31 imports from torchvision when timm.models is imported
# (the try-guarded ones, e.g. feature_extraction, Places365, are left out)
_TORCHVISION_NAMES = {
    'torchvision': ('transforms',),
    'torchvision.transforms': ('ToTensor',),
    'torchvision.transforms.functional': ('InterpolationMode',),
    'torchvision.datasets': (
        'CIFAR10',
        'CIFAR100',
        'FashionMNIST',
        'ImageFolder',
        'KMNIST',
        'MNIST',
    ),
    'torchvision.ops': ('misc',),
    'torchvision.ops.misc': ('FrozenBatchNorm2d',),
}

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


class _Unavailable(type):
    """A torchvision name: subclassable, its attributes are more of the
    same (timm builds enum-keyed dicts at import), any call raises."""

    def __getattr__(cls, name):
        if name.startswith('__'):
            raise AttributeError(name)
        return _Unavailable(name, (), {})

    def __call__(cls, *args, **kwargs):
        raise RuntimeError(f'torchvision stand-in {cls.__name__} was used')


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name in _TORCHVISION_NAMES:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        for attr in _TORCHVISION_NAMES[module.__name__]:
            sub = f'{module.__name__}.{attr}'
            if sub not in _TORCHVISION_NAMES:
                setattr(module, attr, _Unavailable(attr, (), {}))


@contextlib.contextmanager
def _torchvision_stand_in():
    if 'torchvision' in sys.modules:  # a real one: use it
        yield
        return
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in _TORCHVISION_NAMES:
            sys.modules.pop(name, None)


@pytest.fixture(scope='module')
def timm_vit():
    """timm's VisionTransformer class; timm leaves sys.modules after."""
    before = set(sys.modules)
    with _torchvision_stand_in():
        try:
            from timm.models.vision_transformer import VisionTransformer
        except ImportError as e:  # pragma: no cover
            pytest.fail(f'timm (requirements/nodeps.txt) is needed: {e}')
    yield VisionTransformer
    for name in set(sys.modules) - before:
        if name == 'timm' or name.startswith('timm.'):
            del sys.modules[name]


def _random_timm_vit(cls, seed=0, **kwargs):
    """Every parameter random (no zero bias, no unit LayerNorm), so a
    swapped or skipped key changes the outputs."""
    torch.manual_seed(seed)
    cfg = dict(TINY, num_classes=10, qkv_bias=True)
    cfg.update(kwargs)
    model = cls(**cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if re.fullmatch(r'(blocks\.\d+\.norm[12]|norm)\.weight', name):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    return model


def _save(state_dict, path, container=None):
    if path.endswith('.safetensors'):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state_dict.items()}, path)
    else:
        torch.save(
            state_dict if container is None else {container: state_dict}, path
        )
    return path


def _tool():
    """The converter as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location('vit2mmgres', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_main(tool, *argv):
    """``main(argv)`` -> (exit code, stdout, stderr). Not capsys: mmengine's
    logger, created later in the test, would keep capsys's closed stream."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = tool.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _mmseg_vit(ckpt, **kwargs):
    """mmseg's ViT at the tiny size, loaded through init_cfg as configs do."""
    from mmseg.models.backbones import VisionTransformer

    cfg = dict(
        img_size=TINY['img_size'],
        patch_size=TINY['patch_size'],
        embed_dims=TINY['embed_dim'],
        num_layers=TINY['depth'],
        num_heads=TINY['num_heads'],
        mlp_ratio=4,
        qkv_bias=True,
        patch_bias=True,
        with_cls_token=True,
        output_cls_token=True,
        final_norm=True,
        out_indices=-1,
        norm_cfg=dict(type='LN', eps=1e-6),
        act_cfg=dict(type='GELU'),
        init_cfg=dict(type='Pretrained', checkpoint=ckpt),
    )
    cfg.update(kwargs)
    vit = VisionTransformer(**cfg)
    vit.init_weights()
    vit.eval()  # mmseg's ViT.train() returns None
    return vit


# rtol 1e-5, and atol 1e-5 for entries near zero: the outputs are
# LayerNorm-scaled (|x| up to ~5) float32, computed by the same operations
# but summed in another order (timm's fused scaled_dot_product_attention,
# mmcv's nn.MultiheadAttention): measured max abs diff ~3e-6. A wrong or
# missing key changes outputs by O(1).
TOL = dict(rtol=1e-5, atol=1e-5)


def _max_diff(a, b):
    abs_diff = (a - b).abs().max().item()
    rel = ((a - b).abs() / b.abs().clamp_min(1e-6)).max().item()
    return abs_diff, rel


def _max_diff(actual, expected):
    """Max abs difference, and max relative one over entries not near 0."""
    diff = (actual - expected).abs()
    big = expected.abs() > 1e-3
    return diff.max().item(), (diff[big] / expected.abs()[big]).max().item()


def _source_of(tool, src_sd):
    """mmseg key -> the timm key it comes from (the head has none)."""
    return {tool._rename(k): k for k in src_sd if not k.startswith('head.')}


@pytest.mark.parametrize(
    'fmt,container',
    [
        ('safetensors', None),  # the hub's model.safetensors
        ('pth', None),  # pytorch_model.bin
        ('pth', 'model'),  # timm / DeiT training checkpoints
        ('pth', 'state_dict'),
    ],
)
def test_mmseg_vit_matches_timm(timm_vit, tmp_path, fmt, container):
    ref = _random_timm_vit(timm_vit)
    src_sd = ref.state_dict()
    src = _save(src_sd, str(tmp_path / f'vit.{fmt}'), container)
    dst = str(tmp_path / 'out' / 'vit_mmseg.pth')
    tool = _tool()
    code, out, err = _run_main(tool, src, dst)
    assert code == 0, err
    n = len(src_sd)
    assert (
        f'{n} source keys: {n - 2} converted, 2 classifier keys dropped' in out
    )

    # key coverage: every timm key but the classifier head is converted
    ckpt = torch.load(dst, weights_only=True)
    converted = ckpt['state_dict']
    source_of = _source_of(tool, src_sd)
    assert None not in source_of
    assert set(source_of) == set(converted)
    assert set(src_sd) - set(source_of.values()) == {
        'head.weight',
        'head.bias',
    }
    assert ckpt['meta']['arch']['patch_bias'] is True

    vit = _mmseg_vit(dst)
    target = vit.state_dict()
    # every mmseg parameter filled, each from its own timm tensor
    assert set(target) == set(converted)
    for key, value in target.items():
        assert torch.equal(value, src_sd[source_of[key]]), key

    torch.manual_seed(1)
    img = torch.randn(2, 3, TINY['img_size'], TINY['img_size'])
    with torch.no_grad():
        expected = ref.forward_features(img)  # (B, 1 + N, C), after norm
        ((patch_map, cls_token),) = vit(img)
    hw = TINY['img_size'] // TINY['patch_size']
    assert patch_map.shape == (2, TINY['embed_dim'], hw, hw)
    patches = patch_map.flatten(2).transpose(1, 2)
    torch.testing.assert_close(cls_token, expected[:, 0], **TOL)
    torch.testing.assert_close(patches, expected[:, 1:], **TOL)
    print(
        f'\n[{fmt}/{container}] max abs/rel diff: cls token '
        f'{_max_diff(cls_token, expected[:, 0])}, patch tokens '
        f'{_max_diff(patches, expected[:, 1:])}'
    )


def test_raam_backbone_loads_through_config(timm_vit, tmp_path):
    """RaAM's own config (patch_bias, LN eps, final_norm=False), shrunk;
    the converted file loads through its init_cfg and every ViT layer of
    the first stage (before any fusion) equals timm's block output."""
    from mmengine.config import Config

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    ref = _random_timm_vit(timm_vit, seed=2)
    src_sd = ref.state_dict()
    src = _save(src_sd, str(tmp_path / 'model.safetensors'))
    dst = str(tmp_path / 'vit_mmseg.pth')
    tool = _tool()
    tool.convert(src, dst)

    backbone = Config.fromfile(RAAM_VIT).model.backbone
    vision = backbone.vision
    assert vision.patch_bias is True
    assert vision.init_cfg.type == 'Pretrained'
    assert not vision.final_norm
    vision.update(
        img_size=(TINY['img_size'],) * 2,
        patch_size=TINY['patch_size'],
        embed_dims=TINY['embed_dim'],
        num_layers=TINY['depth'],
        num_heads=TINY['num_heads'],
    )
    vision.init_cfg.checkpoint = dst
    # one stage: both ViT layers run before the first fusion
    backbone.update(num_stages=1, num_init_stages=1, text_channels=16)
    model = MODELS.build(backbone)
    model.init_weights()
    model.eval()

    # coverage: all ViT parameters from the file; only timm's final norm
    # (ln1) is left out, as the config builds none (final_norm=False)
    source_of = _source_of(tool, src_sd)
    target = model.vision.state_dict()
    assert set(source_of) - set(target) == {'ln1.weight', 'ln1.bias'}
    assert set(target) <= set(source_of)
    for key, value in target.items():
        assert torch.equal(value, src_sd[source_of[key]]), key

    blocks = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: blocks.append(o))
        for b in ref.blocks
    ]
    torch.manual_seed(3)
    img = torch.randn(2, 3, TINY['img_size'], TINY['img_size'])
    with torch.no_grad():
        ref.forward_features(img)
        out = model(img, torch.randn(2, 5, 16))
    for h in hooks:
        h.remove()
    layer_maps = out['layer_feats'][0]
    assert len(layer_maps) == len(blocks) == TINY['depth']
    for got, want in zip(layer_maps, blocks):
        tokens = got.flatten(2).transpose(1, 2)
        torch.testing.assert_close(tokens, want[:, 1:], **TOL)
        print(
            '\n[RaAM layer] max abs/rel diff', _max_diff(tokens, want[:, 1:])
        )


def test_pos_embed_resized_at_load(timm_vit, tmp_path):
    """The configs load a 224 checkpoint at 480: mmseg resizes pos_embed
    while loading (bicubic, align_corners=False). That is timm's own
    resampling with antialias=False; timm's default (antialias=True, a
    different cubic kernel) gives other numbers, which is printed."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    ref = _random_timm_vit(timm_vit, seed=4)
    src = _save(ref.state_dict(), str(tmp_path / 'model.safetensors'))
    dst = str(tmp_path / 'vit_mmseg.pth')
    _tool().convert(src, dst)
    size = 2 * TINY['img_size']
    vit = _mmseg_vit(dst, img_size=size, interpolate_mode='bicubic')

    def timm_at(size, antialias):
        model = timm_vit(**dict(TINY, img_size=size, num_classes=10)).eval()
        model.load_state_dict(
            checkpoint_filter_fn(
                ref.state_dict(), model, 'bicubic', antialias=antialias
            )
        )
        return model

    torch.manual_seed(5)
    img = torch.randn(1, 3, size, size)
    with torch.no_grad():
        ((patch_map, cls_token),) = vit(img)
        expected = timm_at(size, antialias=False).forward_features(img)
        default = timm_at(size, antialias=True).forward_features(img)
    patches = patch_map.flatten(2).transpose(1, 2)
    torch.testing.assert_close(cls_token, expected[:, 0], **TOL)
    torch.testing.assert_close(patches, expected[:, 1:], **TOL)
    print(
        '\n[resize] vs timm antialias=False',
        _max_diff(patches, expected[:, 1:]),
        '; vs timm default antialias=True',
        _max_diff(patches, default[:, 1:]),
    )


def _expect_error(tool, tmp_path, state_dict, match, name='bad.pth'):
    src = _save(state_dict, str(tmp_path / name))
    with pytest.raises(tool.ConversionError, match=match):
        tool.convert(src, str(tmp_path / 'out.pth'))
    assert not osp.exists(tmp_path / 'out.pth')


def test_bad_inputs(timm_vit, tmp_path):
    tool = _tool()
    good = _random_timm_vit(timm_vit).state_dict()

    # a Swin checkpoint (the other RaAM backbone) is not a ViT
    swin = {
        'patch_embed.proj.weight': torch.zeros(8, 3, 4, 4),
        'layers.0.blocks.0.attn.qkv.weight': torch.zeros(24, 8),
    }
    _expect_error(tool, tmp_path, {'model': swin}, r"missing \['cls_token'")
    # a key missing
    sd = dict(good)
    del sd['blocks.1.mlp.fc2.bias']
    _expect_error(tool, tmp_path, sd, r"missing \['blocks.1.mlp.fc2.bias'\]")
    # a key mmseg's ViT has no place for: timm's layer scale
    scaled = _random_timm_vit(timm_vit, init_values=0.1).state_dict()
    _expect_error(tool, tmp_path, scaled, r'no place .*blocks.0.ls1.gamma')
    # shapes mmseg cannot build (one block with another MLP width)
    sd = dict(good)
    sd['blocks.1.mlp.fc1.weight'] = torch.zeros(64, TINY['embed_dim'])
    sd['blocks.1.mlp.fc1.bias'] = torch.zeros(64)
    _expect_error(tool, tmp_path, sd, 'do not fit mmseg VisionTransformer')
    # no class-token position
    sd = dict(good, pos_embed=good['pos_embed'][:, 1:])
    _expect_error(tool, tmp_path, sd, 'class-token')
    # the output of this tool, given again
    _save(good, str(tmp_path / 'ok.pth'))
    tool.convert(str(tmp_path / 'ok.pth'), str(tmp_path / 'mmseg.pth'))
    with pytest.raises(tool.ConversionError, match='already in mmseg'):
        tool.convert(str(tmp_path / 'mmseg.pth'), str(tmp_path / 'x.pth'))
    # JAX npz and missing files: clear errors, through the CLI too
    (tmp_path / 'ViT-B_16.npz').write_bytes(b'')
    code, _, err = _run_main(tool, str(tmp_path / 'ViT-B_16.npz'), 'x.pth')
    assert code == 1 and '.npz checkpoints are not supported' in err
    code, _, err = _run_main(tool, str(tmp_path / 'absent.pth'), 'x.pth')
    assert code == 1 and 'no such file' in err
    (tmp_path / 'notes.pth').write_text('not a checkpoint')
    code, _, err = _run_main(tool, str(tmp_path / 'notes.pth'), 'x.pth')
    assert code == 1 and 'notes.pth: cannot be read' in err


def test_help_says_what_goes_in_and_out(capsys):
    with pytest.raises(SystemExit):
        _tool().parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'timm ViT checkpoint' in text
    assert 'mmseg VisionTransformer keys' in text
    assert 'patch_bias=True' in text
