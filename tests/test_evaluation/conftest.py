"""Builders of small ``DetDataSample``s for the metric tests."""

from typing import Optional, Sequence

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData


def mask_from_cells(shape: Sequence[int], cells) -> np.ndarray:
    """A bool mask of ``shape`` with the ``(row, col)`` cells set."""
    mask = np.zeros(tuple(shape), dtype=bool)
    for r, c in cells:
        mask[r, c] = True
    return mask


def build_sample(
    gt_mask: Optional[np.ndarray] = None,
    pred_mask: Optional[np.ndarray] = None,
    no_target: bool = False,
    pred_no_target: Optional[bool] = None,
    pred_nt_score: Optional[float] = None,
    gt_boxes=None,
    pred_boxes=None,
    pred_scores=None,
    pred_inst_masks: Optional[np.ndarray] = None,
    points=None,
    pred_points=None,
    **metainfo,
) -> DetDataSample:
    """A data sample in the mmgres contract (original frame).

    ``gt_mask`` becomes ``gt_sem_seg`` (1×H×W uint8) and, split into one
    instance, ``gt_instances.masks``; ``pred_mask`` becomes
    ``pred_sem_seg`` (1×H×W bool).
    """
    meta = dict(img_id=metainfo.pop('img_id', 0), no_target=no_target)
    meta.update(metainfo)
    if gt_mask is not None:
        meta.setdefault('ori_shape', tuple(gt_mask.shape))
    sample = DetDataSample(metainfo=meta)
    gt = InstanceData()
    if gt_boxes is not None:
        gt.bboxes = HorizontalBoxes(
            torch.tensor(gt_boxes, dtype=torch.float32)
        )
        gt.labels = torch.zeros(len(gt_boxes), dtype=torch.long)
    if gt_mask is not None:
        sample.gt_sem_seg = PixelData(
            data=torch.from_numpy(gt_mask.astype(np.uint8))[None]
        )
        inst = (
            gt_mask[None]
            if gt_mask.any()
            else np.zeros((0, *gt_mask.shape), bool)
        )
        gt.masks = BitmapMasks(inst.astype(np.uint8), *gt_mask.shape)
    sample.gt_instances = gt
    if pred_mask is not None:
        sample.pred_sem_seg = PixelData(data=torch.from_numpy(pred_mask)[None])
    pred = InstanceData()
    if pred_boxes is not None:
        pred.bboxes = torch.tensor(pred_boxes, dtype=torch.float32).reshape(
            -1, 4
        )
    if pred_scores is not None:
        pred.scores = torch.tensor(pred_scores, dtype=torch.float32)
    if pred_inst_masks is not None:
        pred.masks = torch.from_numpy(pred_inst_masks)
    if points is not None:
        pred.points = torch.tensor(points, dtype=torch.float32)
    if len(pred.keys()) > 0:
        sample.pred_instances = pred
    if pred_no_target is not None:
        sample.pred_no_target = pred_no_target
    if pred_nt_score is not None:
        sample.pred_nt_score = pred_nt_score
    if pred_points is not None:
        sample.pred_points = torch.tensor(pred_points, dtype=torch.float32)
    return sample


def run_metric(metric, samples, as_dict: bool = False, batch_size: int = 2):
    """Feed samples in batches (as an Evaluator would) and evaluate."""
    if as_dict:
        samples = [s.to_dict() for s in samples]
    for i in range(0, len(samples), batch_size):
        metric.process({}, samples[i : i + batch_size])
    return metric.evaluate(len(samples))


@pytest.fixture
def make_sample():
    return build_sample


@pytest.fixture
def cells():
    return mask_from_cells


@pytest.fixture
def evaluate():
    return run_metric
