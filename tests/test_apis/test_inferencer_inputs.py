"""The inference entry points on a tiny InstAlign with random weights:
GroundingInferencer's input contract, model names of model-index.yml,
folders with an unreadable file (API and demo), and mmdet's DetInferencer.
"""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mmgres.apis import GroundingInferencer
from mmgres.testing import save_random_checkpoint

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
NAME = 'instalign_tiny_1xb8-8e_synthetic-grefcoco'


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the tiny model with random weights, and its state."""
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    state_dict = save_random_checkpoint(CONFIG, path)
    return str(path), state_dict


@pytest.fixture(scope='module')
def inferencer(ckpt):
    return GroundingInferencer(CONFIG, weights=ckpt[0], device='cpu')


def _write_img(path):
    img = np.full((60, 90, 3), 200, np.uint8)
    cv2.circle(img, (20, 30), 10, (0, 0, 255), -1)
    cv2.imwrite(str(path), img)
    return str(path)


@pytest.fixture
def img_file(tmp_path):
    return _write_img(tmp_path / 'scene.png')


@pytest.fixture
def folder(tmp_path):
    """Two good images and, between them by name, random bytes named .jpg."""
    root = tmp_path / 'imgs'
    root.mkdir()
    _write_img(root / 'a.png')
    (root / 'b.jpg').write_bytes(np.random.RandomState(0).bytes(500))
    _write_img(root / 'c.png')
    (root / 'notes.txt').write_text('not an image')  # not listed
    return root


def _texts(out):
    return [
        None if preds is None else [p['text'] for p in preds]
        for preds in out['predictions']
    ]


# --------------------------------------------------------------------------
# the input contract
# --------------------------------------------------------------------------
def test_one_image_and_a_list_gives_one_prediction_per_expression(
    inferencer, img_file
):
    texts = ['the red circles', 'the blue triangle']
    out = inferencer(img_file, texts=texts)
    assert _texts(out) == [texts]
    assert out['failed'] == []
    # one image in a list, or as an array, is still one image
    assert _texts(inferencer([img_file], texts=texts)) == [texts]
    array = cv2.imread(img_file)
    assert _texts(inferencer(array, texts=tuple(texts))) == [texts]


def test_several_images(inferencer, img_file):
    imgs = [img_file, img_file]
    assert _texts(inferencer(imgs, texts='all')) == [['all'], ['all']]
    assert _texts(inferencer(imgs, texts=['a red', 'b blue'])) == [
        ['a red'],
        ['b blue'],
    ]
    out = inferencer(imgs, texts=[['a red', 'a blue'], 'b blue'])
    assert _texts(out) == [['a red', 'a blue'], ['b blue']]
    with pytest.raises(ValueError, match='2 images but 3 entries in `texts`'):
        inferencer(imgs, texts=['a', 'b', 'c'])
    with pytest.raises(TypeError, match=r'`texts\[1\]` must be a str'):
        inferencer(imgs, texts=['a', 3])


def test_missing_or_empty_texts(inferencer, img_file):
    for missing in (dict(texts=None), dict()):
        with pytest.raises(ValueError, match='`texts` is None'):
            inferencer(img_file, **missing)
    for empty in ('', '   ', ['the red circle', ' \t'], [['red', '']]):
        with pytest.raises(ValueError, match='Empty referring expression'):
            inferencer(img_file, texts=empty)
    with pytest.raises(ValueError, match='`texts` has no expression'):
        inferencer(img_file, texts=[])
    with pytest.raises(TypeError, match='must be a str'):
        inferencer(img_file, texts=['red', None])
    with pytest.raises(TypeError, match='`texts` must be a str'):
        inferencer(img_file, texts={'red'})


# --------------------------------------------------------------------------
# model names
# --------------------------------------------------------------------------
def test_model_name_resolves_to_its_config(ckpt, img_file):
    path, state = ckpt
    inferencer = GroundingInferencer(NAME.upper(), weights=path, device='cpu')
    assert inferencer.cfg.filename.endswith(CONFIG)
    loaded = inferencer.model.state_dict()
    for k, v in state.items():
        torch.testing.assert_close(loaded[k], v, msg=k)
    out = inferencer(img_file, texts='the red circle')
    assert _texts(out) == [['the red circle']]


def test_model_name_without_weights_warns_random_init(recwarn):
    inferencer = GroundingInferencer(NAME, device='cpu')
    messages = [str(w.message) for w in recwarn]
    assert any('random initialisation' in m for m in messages), messages
    assert not any('COCO classes' in m for m in messages), messages
    assert inferencer.cfg.filename.endswith(CONFIG)


def test_unknown_model_name_lists_close_matches():
    with pytest.raises(ValueError, match=f'Close matches: {NAME}'):
        GroundingInferencer(NAME.replace('grefcoco', 'grefcco'), device='cpu')
    with pytest.raises(ValueError, match='list_models'):
        GroundingInferencer('zzzz', device='cpu')


def test_every_model_index_name_has_a_config():
    from mmgres.apis.model_index import find_model

    names = GroundingInferencer.list_models()
    assert NAME in names and len(names) > 20
    for name in names:
        config, weights = find_model(name)
        assert config.endswith('.py') and weights is None
    assert GroundingInferencer.list_models('gsva_tiny') == [
        n for n in names if n.startswith('gsva_tiny')
    ]


def test_official_weights_point_at_the_conversion_guide():
    """Entries whose official weights exist point ``Weights`` at the
    guide's section on converting them (a document, never loaded)."""
    import re

    from mmgres.apis.model_index import iter_models, model_index_root

    root = model_index_root()
    linked = {}
    for model in iter_models(root):
        if 'Weights' in model:
            linked[model['Name']] = model['Weights']
    assert 'gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_release' in linked
    assert 'igvg_beit3-base_1xb16-10e_grefcoco_instancevg' in linked
    for name, link in linked.items():
        path, anchor = link.split('#')
        with open(f'{root}/{path}', encoding='utf-8') as f:
            headings = re.findall(r'^#+ (.+)$', f.read(), re.M)
        # GitHub's anchors: lower case, punctuation dropped, spaces to '-'
        anchors = {
            re.sub(r'[^\w\- ]', '', h.lower()).replace(' ', '-')
            for h in headings
        }
        assert anchor in anchors, (name, link)


# --------------------------------------------------------------------------
# a folder with an unreadable file
# --------------------------------------------------------------------------
def test_folder_with_a_corrupt_file(inferencer, folder, tmp_path, monkeypatch):
    import mmgres.apis.inferencer as module

    tracked = []

    def track(seq, **kwargs):
        tracked.append(len(seq))
        return seq

    monkeypatch.setattr(module, 'track', track, raising=False)
    out_dir = tmp_path / 'out'
    with pytest.warns(UserWarning, match='Skipped .*b.jpg: OSError'):
        out = inferencer(
            str(folder),
            texts=[['the red circle', 'all'], 'x', 'the red circle'],
            out_dir=str(out_dir),
            no_save_pred=False,
        )
    assert tracked == [4]  # a progress bar over the folder's 4 pairs
    assert _texts(out) == [['the red circle', 'all'], None, ['the red circle']]
    assert len(out['failed']) == 1
    assert out['failed'][0]['input'] == str(folder / 'b.jpg')
    assert 'b.jpg' in out['failed'][0]['error']
    assert out['visualization'][1] is None
    vis = sorted(p.name for p in (out_dir / 'vis').iterdir())
    assert vis == ['a_0.jpg', 'a_1.jpg', 'c_0.jpg']
    preds = sorted(p.name for p in (out_dir / 'preds').iterdir())
    assert preds == ['a.json', 'c.json']
    saved = json.loads((out_dir / 'preds' / 'a.json').read_text())
    assert saved == out['predictions'][0]
    # a single image: no progress bar, and an unreadable one raises
    inferencer(str(folder / 'a.png'), texts='red')
    assert tracked == [4]
    with pytest.raises(OSError, match='b.jpg'):
        inferencer(str(folder / 'b.jpg'), texts='red')


def test_demo_on_a_folder_with_a_corrupt_file(ckpt, folder, tmp_path):
    out_dir = tmp_path / 'demo'
    cmd = [sys.executable, 'demo/image_demo.py', str(folder), CONFIG]
    cmd += ['--weights', ckpt[0], '--texts', 'the red circle', 'all']
    cmd += ['--device', 'cpu', '--out-dir', str(out_dir), '--save-json']
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a | 'the red circle'" in proc.stdout
    assert "c | 'all'" in proc.stdout
    assert '1 of 3 image(s) failed:' in proc.stdout
    assert f'  {folder / "b.jpg"}: OSError' in proc.stdout
    vis = sorted(p.name for p in (out_dir / 'vis').iterdir())
    assert vis == ['a_0.jpg', 'a_1.jpg', 'c_0.jpg', 'c_1.jpg']
    preds = sorted(p.name for p in (out_dir / 'preds').iterdir())
    assert preds == ['a.json', 'c.json']
    assert len(json.loads((out_dir / 'preds' / 'c.json').read_text())) == 2


# --------------------------------------------------------------------------
# mmdet's DetInferencer
# --------------------------------------------------------------------------
def test_mmdet_det_inferencer_with_texts(ckpt, img_file):
    """mmdet's DetInferencer puts ``texts`` into the pipeline's ``text``,
    which the grounders read: it runs mmgres configs as they are."""
    from mmdet.apis import DetInferencer

    inferencer = DetInferencer(
        model=CONFIG,
        weights=ckpt[0],
        scope='mmgres',
        device='cpu',
        show_progress=False,
    )
    out = inferencer(img_file, texts='the red circle', return_datasamples=True)
    pred = out['predictions'][0]
    assert pred.metainfo['text'] == 'the red circle'
    assert pred.pred_sem_seg.data.shape == (1, 60, 90)
    assert isinstance(pred.pred_no_target, bool)
    # the mmdet dict: the instances (boxes, scores, labels, RLE masks)
    out = inferencer(img_file, texts='the red circle')
    pred = out['predictions'][0]
    assert set(pred) >= {'bboxes', 'scores', 'labels', 'masks'}
    assert all(len(b) == 4 for b in pred['bboxes'])
    with pytest.raises(ValueError, match='Empty referring expression'):
        inferencer(img_file)  # no texts
