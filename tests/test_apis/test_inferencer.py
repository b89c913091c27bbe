"""GroundingInferencer and mmdet's own inference API on a tiny InstAlign
with random weights."""

import warnings

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmgres.apis import GroundingInferencer
from mmgres.testing import save_random_checkpoint

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the tiny model with random weights."""
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    save_random_checkpoint(CONFIG, path)
    return str(path)


@pytest.fixture(scope='module')
def inferencer(ckpt):
    return GroundingInferencer(CONFIG, weights=ckpt, device='cpu')


@pytest.fixture
def img_file(tmp_path):
    img = np.full((60, 90, 3), 200, np.uint8)
    cv2.circle(img, (20, 30), 10, (0, 0, 255), -1)
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), img)
    return str(path)


def _check_pred(pred, h, w, text):
    assert pred['text'] == text
    assert isinstance(pred['no_target'], bool)
    assert 0.0 <= pred['nt_score'] <= 1.0
    merged = mask_utils.decode(pred['merged_mask'])
    assert merged.shape == (h, w)
    for inst in pred['instances']:
        assert mask_utils.decode(inst['mask']).shape == (h, w)
        assert len(inst['bbox']) == 4 and 0.0 <= inst['score'] <= 1.0


def test_one_text_per_image_and_several_texts(inferencer, img_file):
    out = inferencer([img_file, img_file], texts=['the red circle', 'all'])
    preds = out['predictions']
    assert [len(p) for p in preds] == [1, 1]
    _check_pred(preds[0][0], 60, 90, 'the red circle')
    out = inferencer(
        img_file,
        texts=[['the red circle', 'two blue squares', 'the leftmost shape']],
        batch_size=2,
    )
    assert [p['text'] for p in out['predictions'][0]] == [
        'the red circle',
        'two blue squares',
        'the leftmost shape',
    ]
    # batching does not change the answer
    single = inferencer(img_file, texts='two blue squares')
    assert (
        single['predictions'][0][0]['merged_mask']
        == out['predictions'][0][1]['merged_mask']
    )


def test_visualisation_files(inferencer, img_file, tmp_path):
    out = inferencer(
        img_file,
        texts=[['the red circle', 'all shapes']],
        out_dir=str(tmp_path / 'out'),
        return_vis=True,
    )
    assert len(out['visualization'][0]) == 2
    assert out['visualization'][0][0].ndim == 3
    assert (tmp_path / 'out' / 'vis' / 'scene_0.jpg').is_file()
    assert (tmp_path / 'out' / 'vis' / 'scene_1.jpg').is_file()


def test_bad_inputs(inferencer, img_file, tmp_path):
    with pytest.raises(ValueError, match='Empty referring expression'):
        inferencer(img_file, texts='   ')
    with pytest.raises(ValueError, match='Empty referring expression'):
        inferencer(img_file, texts=[['red', '']])
    missing = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        inferencer(missing, texts='red')
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'not an image at all')
    with pytest.raises(Exception, match='corrupt.jpg'):
        inferencer(str(corrupt), texts='red')
    with pytest.raises(ValueError, match='3 entries'):
        inferencer([img_file, img_file], texts=['a', 'b', 'c'])


def test_long_expression_warns_once_and_is_truncated(inferencer, img_file):
    inferencer._warned_long = False
    long = ' '.join(['the red circle on the left'] * 20)
    with pytest.warns(UserWarning, match='truncated'):
        out = inferencer(img_file, texts=long)
    _check_pred(out['predictions'][0][0], 60, 90, long)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        inferencer(img_file, texts=long)  # no second warning


@pytest.mark.parametrize('shape', [(1, 1), (40, 50), (40, 50, 1), (40, 50, 4)])
def test_grey_rgba_and_tiny_arrays(inferencer, shape):
    img = np.random.RandomState(0).randint(0, 255, shape).astype(np.uint8)
    out = inferencer(img, texts='the red circle')
    _check_pred(out['predictions'][0][0], shape[0], shape[1], 'the red circle')


def test_grey_and_rgba_files(inferencer, tmp_path):
    grey = tmp_path / 'grey.png'
    cv2.imwrite(str(grey), np.full((30, 40), 90, np.uint8))
    rgba = tmp_path / 'rgba.png'
    cv2.imwrite(str(rgba), np.full((30, 40, 4), 90, np.uint8))
    for path in (grey, rgba):
        out = inferencer(str(path), texts='all shapes')
        _check_pred(out['predictions'][0][0], 30, 40, 'all shapes')


def test_huge_image(inferencer):
    img = np.zeros((8000, 8000, 3), np.uint8)
    out = inferencer(img, texts='the red circle')
    _check_pred(out['predictions'][0][0], 8000, 8000, 'the red circle')


def test_mmdet_api_works_unchanged(ckpt, img_file):
    from mmdet.apis import inference_detector, init_detector

    model = init_detector(CONFIG, ckpt, device='cpu')
    result = inference_detector(model, img_file, text_prompt='the red circle')
    assert result.metainfo['text'] == 'the red circle'
    assert result.pred_sem_seg.data.shape == (1, 60, 90)
    assert isinstance(result.pred_no_target, bool)
    assert result.pred_instances.bboxes.shape[1] == 4


# --------------------------------------------------------------------------
# RaAM-RVG: the same inferencer and demo with a RaAM checkpoint
# --------------------------------------------------------------------------
RAAM_CONFIG = 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py'


@pytest.fixture(scope='module')
def raam_ckpts(tmp_path_factory):
    """Tiny RaAM-RVG checkpoints (random weights): as built, and with every
    region's presence pushed to "absent"."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(RAAM_CONFIG)
    with DefaultScope.overwrite_default_scope('mmgres'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    root = tmp_path_factory.mktemp('raam_ckpt')
    meta = dict(dataset_meta=dict(classes=('object',)))
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta=meta), root / 'tiny.pth')
    absent = {k: v.clone() for k, v in state.items()}
    for k in absent:
        if k.startswith('head.presence_mlps.') and '.layers.1.' in k:
            absent[k].fill_(-20.0 if k.endswith('bias') else 0.0)
    torch.save(dict(state_dict=absent, meta=meta), root / 'absent.pth')
    return state, str(root / 'tiny.pth'), str(root / 'absent.pth')


def test_raam_checkpoint_in_the_inferencer(raam_ckpts, img_file):
    state, ckpt, absent = raam_ckpts
    inferencer = GroundingInferencer(RAAM_CONFIG, weights=ckpt, device='cpu')
    loaded = inferencer.model.state_dict()
    for k, v in state.items():  # the checkpoint's weights, not random ones
        torch.testing.assert_close(loaded[k], v, msg=k)
    out = inferencer([img_file, img_file], texts=['the red circle', 'all'])
    preds = out['predictions']
    _check_pred(preds[0][0], 60, 90, 'the red circle')
    _check_pred(preds[1][0], 60, 90, 'all')
    assert all(len(p[0]['instances']) <= 1 for p in preds)
    # every region absent: "no target", an empty mask and no instance
    inferencer = GroundingInferencer(RAAM_CONFIG, weights=absent, device='cpu')
    pred = inferencer(img_file, texts='the red circle')['predictions'][0][0]
    _check_pred(pred, 60, 90, 'the red circle')
    assert pred['no_target'] is True and pred['nt_score'] > 0.99
    assert mask_utils.decode(pred['merged_mask']).sum() == 0
    assert pred['instances'] == []


def test_raam_checkpoint_in_the_demo(raam_ckpts, img_file, tmp_path):
    import runpy
    import sys
    from unittest import mock

    _, ckpt, _ = raam_ckpts
    out_dir = tmp_path / 'demo'
    argv = ['image_demo.py', img_file, RAAM_CONFIG, '--weights', ckpt]
    argv += ['--texts', 'the red circle', 'all shapes', '--device', 'cpu']
    argv += ['--out-dir', str(out_dir), '--save-json']
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path('demo/image_demo.py', run_name='__main__')
    assert (out_dir / 'vis' / 'scene_0.jpg').is_file()
    assert (out_dir / 'vis' / 'scene_1.jpg').is_file()
    assert (out_dir / 'preds' / 'scene.json').is_file()


# --------------------------------------------------------------------------
# IGVG: the same inferencer and demo with an IGVG checkpoint
# --------------------------------------------------------------------------
IGVG_CONFIG = 'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py'


@pytest.fixture(scope='module')
def igvg_ckpts(tmp_path_factory):
    """Tiny IGVG checkpoints (random weights): as built, and with every
    query pushed to "target" and the no-target branch to "target"."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(IGVG_CONFIG)
    with DefaultScope.overwrite_default_scope('mmgres'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
    root = tmp_path_factory.mktemp('igvg_ckpt')
    meta = dict(dataset_meta=dict(classes=('object',)))
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta=meta), root / 'tiny.pth')
    found = {k: v.clone() for k, v in state.items()}
    for k in found:
        if k.startswith('head.cls_branches.') and k.endswith('.bias'):
            found[k] = torch.tensor([20.0, -20.0])  # class 0: target
        if k.startswith('head.nt_branch.cls_fc.'):
            found[k].zero_()
            if k.endswith('bias'):
                found[k] += torch.tensor([20.0, -20.0])  # "has a target"
    torch.save(dict(state_dict=found, meta=meta), root / 'found.pth')
    return state, str(root / 'tiny.pth'), str(root / 'found.pth')


def test_igvg_checkpoint_in_the_inferencer(igvg_ckpts, img_file, tmp_path):
    state, ckpt, found = igvg_ckpts
    inferencer = GroundingInferencer(IGVG_CONFIG, weights=ckpt, device='cpu')
    loaded = inferencer.model.state_dict()
    for k, v in state.items():  # the checkpoint's weights, not random ones
        torch.testing.assert_close(loaded[k], v, msg=k)
    out = inferencer(
        [img_file, img_file],
        texts=['the red circle', 'all'],
        out_dir=str(tmp_path / 'out'),
    )
    preds = out['predictions']
    _check_pred(preds[0][0], 60, 90, 'the red circle')
    _check_pred(preds[1][0], 60, 90, 'all')
    # the N_q = 10 DPS points, in the 90 x 60 original frame
    points = np.array(preds[0][0]['points'])
    assert points.shape == (10, 2)
    assert (points >= 0).all() and (points[:, 0] <= 90).all()
    assert (points[:, 1] <= 60).all()
    assert (tmp_path / 'out' / 'vis' / 'scene_0.jpg').is_file()
    # every query a target: all 10 kept, boxes inside the image
    inferencer = GroundingInferencer(IGVG_CONFIG, weights=found, device='cpu')
    pred = inferencer(img_file, texts='the red circle')['predictions'][0][0]
    _check_pred(pred, 60, 90, 'the red circle')
    assert pred['no_target'] is False and pred['nt_score'] < 1e-6
    assert len(pred['instances']) == 10
    for inst in pred['instances']:
        x0, y0, x1, y1 = inst['bbox']
        assert 0 <= x0 <= x1 <= 90 and 0 <= y0 <= y1 <= 60
        assert inst['score'] > 0.99
    # a long expression is truncated to BEiT-3's max_length, with a warning
    inferencer._warned_long = False
    with pytest.warns(UserWarning, match='truncated'):
        inferencer(img_file, texts=' '.join(['the red circle'] * 10))


def test_igvg_checkpoint_in_the_demo(igvg_ckpts, img_file, tmp_path):
    import json
    import runpy
    import sys
    from unittest import mock

    _, _, found = igvg_ckpts
    out_dir = tmp_path / 'demo'
    argv = ['image_demo.py', img_file, IGVG_CONFIG, '--weights', found]
    argv += ['--texts', 'the red circle', 'all shapes', '--device', 'cpu']
    argv += ['--out-dir', str(out_dir), '--save-json']
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path('demo/image_demo.py', run_name='__main__')
    assert (out_dir / 'vis' / 'scene_0.jpg').is_file()
    assert (out_dir / 'vis' / 'scene_1.jpg').is_file()
    preds = json.loads((out_dir / 'preds' / 'scene.json').read_text())
    assert len(preds) == 2 and len(preds[0]['points']) == 10
    assert len(preds[0]['instances']) == 10
