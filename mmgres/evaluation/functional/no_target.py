# Copyright (c) mmgres contributors. All rights reserved.
"""The "is there no target?" decision, shared by all mask metrics.

Three rules are in use in the literature; a metric names one with its
``nt_source`` argument:

- ``'classifier'`` (ReLA, the official GRES evaluator): the model's
  no-target head decides (``pred_no_target``, which every grounder sets).
- ``'score'`` (InstanceVG): no predicted instance has a score above
  ``score_thr`` (0.7).
- ``'empty_mask'`` (LISA with ``min_pixels=50``; DMMI and RefSegformer with
  ``min_pixels=1``, i.e. "no foreground pixel"): the predicted mask has fewer
  than ``min_pixels`` pixels.
"""

from typing import Any, Optional

import numpy as np

from .mask_ops import to_numpy

NT_SOURCES = ('classifier', 'score', 'empty_mask')


def check_nt_source(nt_source: str) -> str:
    """Validate an ``nt_source`` name and return it."""
    if nt_source not in NT_SOURCES:
        raise ValueError(
            f'nt_source must be one of {NT_SOURCES}, got {nt_source!r}'
        )
    return nt_source


def decide_no_target(
    nt_source: str,
    pred_no_target: Optional[Any] = None,
    scores: Optional[Any] = None,
    pred_pixels: Optional[int] = None,
    score_thr: float = 0.7,
    min_pixels: int = 50,
) -> bool:
    """Decide whether a prediction says "no target".

    Args:
        nt_source (str): ``'classifier'``, ``'score'`` or ``'empty_mask'``.
        pred_no_target (bool, optional): The classifier's decision; needed
            by ``'classifier'``.
        scores (array-like, optional): Instance scores, shape (N,); needed by
            ``'score'``.
        pred_pixels (int, optional): Foreground pixels of the predicted mask;
            needed by ``'empty_mask'``.
        score_thr (float): An instance counts when its score is strictly
            above this. Defaults to 0.7 (InstanceVG).
        min_pixels (int): Fewer predicted pixels than this means no target.
            Defaults to 50 (LISA).

    Returns:
        bool: True when the prediction is "no target".

    Raises:
        ValueError: If the input that ``nt_source`` needs is missing.

    Example:
        >>> decide_no_target('score', scores=[0.2, 0.7])
        True
        >>> decide_no_target('empty_mask', pred_pixels=49)
        True
    """
    check_nt_source(nt_source)
    if nt_source == 'classifier':
        if pred_no_target is None:
            raise ValueError(
                "nt_source='classifier' needs the prediction's "
                '`pred_no_target`'
            )
        return bool(to_numpy(pred_no_target).any())
    if nt_source == 'score':
        if scores is None:
            raise ValueError(
                "nt_source='score' needs the predicted instance "
                'scores (`pred_instances.scores`)'
            )
        scores = to_numpy(scores).reshape(-1)
        return not bool(np.any(scores > score_thr))
    if pred_pixels is None:
        raise ValueError("nt_source='empty_mask' needs the predicted mask")
    return int(pred_pixels) < min_pixels
