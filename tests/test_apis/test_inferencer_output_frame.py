"""The inferencer's outputs are in the original image frame even for a
config that scores in the network's frame (``test_cfg.rescale=False``)."""

import cv2
import numpy as np
from mmengine.config import Config
from pycocotools import mask as mask_utils

from mmgres.apis import GroundingInferencer
from mmgres.testing import save_random_checkpoint

CONFIG = 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'


def test_inferencer_forces_the_original_frame(tmp_path):
    ckpt = tmp_path / 'tiny.pth'
    save_random_checkpoint(CONFIG, ckpt)
    cfg = Config.fromfile(CONFIG)
    cfg.model.test_cfg.update(rescale=False, rescale_boxes=False)
    inferencer = GroundingInferencer(cfg, weights=str(ckpt), device='cpu')
    assert inferencer.model.test_cfg['rescale'] is True
    assert inferencer.model.test_cfg['rescale_boxes'] is True
    img = np.full((60, 90, 3), 200, np.uint8)
    cv2.circle(img, (20, 30), 10, (0, 0, 255), -1)
    path = tmp_path / 'scene.png'
    cv2.imwrite(str(path), img)
    out = inferencer(str(path), texts='the red circle')
    (pred,) = out['predictions'][0]
    # the network sees a resized image; the user gets the 60x90 one
    assert mask_utils.decode(pred['merged_mask']).shape == (60, 90)
    for inst in pred['instances']:
        assert mask_utils.decode(inst['mask']).shape == (60, 90)
