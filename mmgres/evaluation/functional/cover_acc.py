# Copyright (c) mmgres contributors. All rights reserved.
"""CoverAcc (IGVG): how many targets the selected reference points cover.

A target is covered when at least one selected point lies inside (edges
included) its ground-truth box. A sample is reduced to
``(num_covered, num_targets)``; CoverAcc is the mean over samples of
``num_covered / num_targets``. Samples without a target (no-target
expressions) have nothing to cover and are skipped.
"""

from typing import Any, Dict, Sequence, Tuple

from .box_ops import points_in_boxes, to_box_tensor
from .ratio import percent


def count_covered(points: Any, gt_boxes: Any) -> Tuple[int, int]:
    """Count the ground-truth boxes that contain at least one point.

    Args:
        points: Shape (K, 2), ``(x, y)`` in the frame of the boxes.
        gt_boxes: Shape (G, 4), xyxy.

    Returns:
        tuple[int, int]: ``(num_covered, num_targets)``.

    Example:
        >>> count_covered([[1, 1], [9, 9]], [[0, 0, 2, 2], [4, 4, 6, 6]])
        (1, 2)
    """
    boxes = to_box_tensor(gt_boxes)
    inside = points_in_boxes(points, boxes)
    return int(inside.any(axis=0).sum()), int(boxes.shape[0])


def compute_cover_acc(records: Sequence[Sequence[int]]) -> Dict[str, float]:
    """CoverAcc in percent from ``(num_covered, num_targets)`` records."""
    ratios = [c / n for c, n in records if n > 0]
    return {'CoverAcc': percent(sum(ratios), len(ratios))}
