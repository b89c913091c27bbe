"""GroundingInferencer: a "no target" answer returns and draws no mask; the
drawing size is bounded by ``max_draw_size``."""

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mmgres.apis import GroundingInferencer
from mmgres.testing import save_random_checkpoint

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
H, W = 60, 90


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory):
    """The tiny InstAlign with random weights, set to keep every query
    with a full mask: its raw answer covers the whole image."""
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    save_random_checkpoint(CONFIG, path)
    inferencer = GroundingInferencer(CONFIG, weights=str(path), device='cpu')
    inferencer.model.head.test_cfg.update(score_thr=0.0, mask_thr=0.0)
    return inferencer


@pytest.fixture
def img_file(tmp_path):
    img = np.full((H, W, 3), 200, np.uint8)
    cv2.circle(img, (20, 30), 10, (0, 0, 255), -1)
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), img)
    return str(path)


def test_no_target_returns_and_draws_no_mask(inferencer, img_file):
    head_cfg = inferencer.model.head.test_cfg
    head_cfg.update(nt_thr=0.0)  # p_NT > 0: always "no target"
    try:
        out = inferencer(img_file, texts='the red circle', return_vis=True)
        samples = inferencer(
            img_file, texts='the red circle', return_datasamples=True
        )
    finally:
        head_cfg.update(nt_thr=0.5)
    pred = out['predictions'][0][0]
    assert pred['no_target'] is True
    assert not mask_utils.decode(pred['merged_mask']).any()
    assert pred['instances'] == []
    # the model's own answer is kept in the data sample
    sample = samples['predictions'][0][0]
    assert sample.pred_sem_seg_raw.data.all()
    assert len(sample.pred_instances_raw) > 0
    # the drawing: the banner across the middle, the image elsewhere
    drawn = out['visualization'][0][0]
    panel = drawn[-H:].astype(int)
    rgb = cv2.imread(img_file)[:, :, ::-1].astype(int)
    diff = np.abs(panel - rgb).sum(-1) > 10
    band = max(H // 4, 12)
    top = (H - band) // 2
    assert diff[top + 2 : top + band - 2].mean() > 0.9  # the red banner
    assert not diff[: top - 1].any() and not diff[top + band + 1 :].any()


def test_drawing_size_is_bounded(inferencer, img_file):
    out = inferencer(
        img_file, texts='the red circle', return_vis=True, max_draw_size=45
    )
    drawn = out['visualization'][0][0]
    assert drawn.shape[1] == 45
    # predictions stay in the image frame
    merged = mask_utils.decode(out['predictions'][0][0]['merged_mask'])
    assert merged.shape == (H, W)
    out = inferencer(
        img_file, texts='the red circle', return_vis=True, max_draw_size=None
    )
    assert out['visualization'][0][0].shape[1] == W
