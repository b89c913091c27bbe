# Copyright (c) mmgres contributors. All rights reserved.
"""Demo inputs for grounders, as ``mmdet.testing.demo_mm_inputs`` is for
detectors: used by the analysis tools (FLOPs, speed) and the tests."""

from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

DEMO_TEXTS = (
    'the two red circles on the left',
    'the big blue square',
    'all yellow shapes above the green triangle',
)


def demo_grounding_inputs(
    batch_size: int = 2,
    image_shape: Tuple[int, int] = (128, 128),
    num_instances: int = 2,
    texts: Sequence[str] = DEMO_TEXTS,
    no_target_first: bool = False,
    with_sem_seg: bool = True,
    seed: int = 0,
) -> Tuple[torch.Tensor, List[DetDataSample]]:
    """Random images and data samples in the packed format of
    ``PackReferringInputs`` (see the data contract in the docs).

    Args:
        batch_size (int): Number of samples.
        image_shape (tuple[int, int]): (H, W) of every image, which is also
            the original and the padded shape.
        num_instances (int): Rectangular instances per target sample.
        texts (Sequence[str]): Expressions, used in turn.
        no_target_first (bool): Make the first sample a no-target one.
        with_sem_seg (bool): Add ``gt_sem_seg`` (the merged mask).
        seed (int): Random seed.

    Returns:
        tuple: ``inputs`` (B, 3, H, W) uint8 and the data samples, with
        ``gt_instances`` (``BitmapMasks``, boxes, labels 0) and ``gt_sem_seg``.
    """
    rng = np.random.RandomState(seed)
    h, w = image_shape
    inputs = torch.from_numpy(
        rng.randint(0, 255, (batch_size, 3, h, w)).astype(np.uint8)
    )
    samples = []
    for i in range(batch_size):
        nt = no_target_first and i == 0
        n = 0 if nt else num_instances
        masks = np.zeros((n, h, w), np.uint8)
        boxes = np.zeros((n, 4), np.float32)
        for k in range(n):
            x0, y0 = rng.randint(0, w // 2), rng.randint(0, h // 2)
            x1 = x0 + rng.randint(2, w // 2)
            y1 = y0 + rng.randint(2, h // 2)
            masks[k, y0:y1, x0:x1] = 1
            boxes[k] = [x0, y0, x1, y1]
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0),
                text=texts[i % len(texts)],
                no_target=nt,
            )
        )
        sample.gt_instances = InstanceData(
            masks=BitmapMasks(masks, h, w),
            labels=torch.zeros(n, dtype=torch.long),
            bboxes=torch.from_numpy(boxes),
        )
        if with_sem_seg:
            sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(
                    masks.any(0, keepdims=True).astype(np.uint8)
                )
            )
        samples.append(sample)
    return inputs, samples
