"""GroundingInferencer and mmdet's own inference API on a tiny InstAlign
with random weights."""

import warnings

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmgres.apis import GroundingInferencer

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the tiny model with random weights."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(CONFIG)
    with DefaultScope.overwrite_default_scope('mmgres'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(classes=('object',))),
        ),
        path,
    )
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
    with pytest.raises(ValueError, match='2 entries'):
        inferencer([img_file], texts=['a', 'b'])


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
