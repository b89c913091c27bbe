"""GroundingInferencer and the demo with a tiny GSVA checkpoint: several
expressions of one image go into one dialogue; each gets its mask or its
rejection, and the generated answer comes back."""

import contextlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from mmgres.apis import GroundingInferencer
from mmgres.testing import save_random_checkpoint

CONFIG = 'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py'
TEXTS = ['the red circle', 'two blue squares', 'the green triangle']


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """A checkpoint of the tiny GSVA with random weights."""
    path = tmp_path_factory.mktemp('gsva_ckpt') / 'tiny.pth'
    state_dict = save_random_checkpoint(CONFIG, path)
    return str(path), state_dict


@pytest.fixture(scope='module')
def inferencer(ckpt):
    return GroundingInferencer(CONFIG, weights=ckpt[0], device='cpu')


@pytest.fixture
def img_file(tmp_path):
    img = np.full((60, 90, 3), 200, np.uint8)
    cv2.circle(img, (20, 30), 10, (0, 0, 255), -1)
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), img)
    return str(path)


@contextlib.contextmanager
def _force(model, token, margin=100.0):
    """Make the LLM write ``token`` at every step."""
    bias = torch.zeros(len(model.mllm.tokenizer))
    bias[model.mllm.token_id(token)] = margin
    handle = model.mllm.model.lm_head.register_forward_hook(
        lambda m, i, o: o + bias
    )
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _count_generate(model):
    calls = []
    orig = model.mllm.generate

    def spy(input_ids, *args, **kwargs):
        calls.append(tuple(input_ids.shape))
        return orig(input_ids, *args, **kwargs)

    model.mllm.generate = spy
    try:
        yield calls
    finally:
        del model.mllm.generate


def test_weights_loaded_and_generate_mode(inferencer, ckpt):
    loaded = inferencer.model.state_dict()
    for k, v in ckpt[1].items():
        torch.testing.assert_close(loaded[k], v, rtol=0, atol=0)
    # the benchmark's teacher forcing needs the ground truth: not here
    assert inferencer.model.test_cfg['mode'] == 'generate'


@pytest.mark.parametrize('token', ['[SEG]', '[REJ]'])
def test_one_dialogue_masks_or_rejections_and_answer(
    inferencer, img_file, token
):
    model = inferencer.model
    with _force(model, token), _count_generate(model) as calls:
        out = inferencer(img_file, texts=[TEXTS], batch_size=1)
    # three expressions of one image: one dialogue, one generate() call
    assert len(calls) == 1 and calls[0][0] == 1
    preds = out['predictions'][0]
    assert [p['text'] for p in preds] == TEXTS
    answers = {p['answer'] for p in preds}
    assert len(answers) == 1  # the one dialogue's answer
    answer = answers.pop()
    assert answer.count(token) >= 3
    for p in preds:
        mask = mask_utils.decode(p['merged_mask'])
        assert mask.shape == (60, 90)
        assert 0.0 <= p['nt_score'] <= 1.0
        if token == '[REJ]':  # rejected: no target, empty mask
            assert p['no_target'] and not mask.any()
            assert p['instances'] == []
        else:  # one [SEG] each: decided "target", its mask decoded
            assert p['no_target'] is False
            assert p['nt_score'] < 0.5
            if mask.any():
                assert len(p['instances']) == 1


def test_several_images_one_dialogue_each(inferencer, img_file):
    img = cv2.imread(img_file)
    model = inferencer.model
    with _force(model, '[SEG]'), _count_generate(model) as calls:
        out = inferencer(
            [img_file, img[:, ::-1].copy()],
            texts=[TEXTS[:2], TEXTS],
        )
    assert [c[0] for c in calls] == [1, 1]  # two dialogues, one per image
    assert [len(p) for p in out['predictions']] == [2, 3]


def test_demo_prints_the_answer(ckpt, img_file, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            'demo/image_demo.py',
            img_file,
            CONFIG,
            '--weights',
            ckpt[0],
            '--texts',
            'the red circle',
            'a dog',
            '--out-dir',
            str(tmp_path / 'out'),
            '--device',
            'cpu',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'scene | answer:' in proc.stdout
    assert "scene | 'the red circle':" in proc.stdout
    assert (tmp_path / 'out' / 'vis' / 'scene_0.jpg').is_file()
    assert (tmp_path / 'out' / 'vis' / 'scene_1.jpg').is_file()
