import os
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData, PixelData

from mmgres.engine.hooks import GroundingVisualizationHook
from mmgres.visualization import GroundingLocalVisualizer


def _sample(img_path, sent_id, text):
    s = DetDataSample(
        metainfo=dict(
            img_path=img_path,
            sent_id=sent_id,
            text=text,
            no_target=False,
            ori_shape=(32, 32),
            img_shape=(32, 32),
        )
    )
    mask = torch.zeros(1, 32, 32, dtype=torch.bool)
    mask[0, 4:12, 4:12] = True
    s.pred_instances = InstanceData(
        masks=mask,
        bboxes=torch.tensor([[4.0, 4.0, 12.0, 12.0]]),
        scores=torch.tensor([0.9]),
        labels=torch.tensor([0]),
    )
    s.pred_sem_seg = PixelData(data=mask)
    s.pred_no_target = False
    return s


def test_one_file_per_expression_in_one_folder(tmp_path):
    img_path = str(tmp_path / 'img1.jpg')
    cv2.imwrite(img_path, np.full((32, 32, 3), 127, np.uint8))
    GroundingLocalVisualizer.get_instance('test_vis_hook')
    hook = GroundingVisualizationHook(draw=True, test_out_dir='vis')
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='ts')
    hook.before_test(runner)
    outputs = [_sample(img_path, 7, 'left one'), _sample(img_path, 8, 'all')]
    hook.after_test_iter(runner, 0, {}, outputs)
    hook.after_test_iter(runner, 1, {}, [_sample(img_path, 9, 'the red')])
    out_dir = tmp_path / 'ts' / 'vis'
    assert sorted(os.listdir(out_dir)) == [
        'img1_7.jpg',
        'img1_8.jpg',
        'img1_9.jpg',
    ]
