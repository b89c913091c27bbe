# Copyright (c) mmgres contributors. All rights reserved.
"""Dist-Score Point Selector (DPS) of IGVG, Algorithm 1."""

import math
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


def indices_to_points(indices: Tensor, hw_shape: Tuple[int, int]) -> Tensor:
    """Flat map indices to normalised (x, y) pixel centres.

    Args:
        indices (Tensor): Flat indices ``row * w + col``, shape (B, N).
        hw_shape (tuple[int, int]): (h, w) of the map.

    Returns:
        Tensor: Shape (B, N, 2), ``((col + 0.5) / w, (row + 0.5) / h)``, in
        (0, 1).
    """
    h, w = hw_shape
    x = ((indices % w).float() + 0.5) / w
    y = (torch.div(indices, w, rounding_mode='floor').float() + 0.5) / h
    return torch.stack([x, y], dim=-1)


@MODELS.register_module()
class DistScorePointSelector(BaseModule):
    """Choose N reference points on a score map, spread over the instances.

    Algorithm 1 of IGVG, batched (the loop runs over the N points only):

    1. ``M = sigmoid(score_map)`` (the score map is a logit map);
    2. the first point is ``argmax M``;
    3. each next point is ``argmax (M + w_dist * D)`` over the points not
       chosen yet, where ``D`` is each location's Euclidean distance to the
       nearest chosen point.

    **Distance unit.** Locations are the integer (row, col) cells of the
    h × w map. As InstanceVG (``AQSM.point_selector``), distances are
    divided by the map diagonal ``sqrt(h² + w²)``, so D is a fraction of
    the diagonal in [0, 1], weighted by its ``W_dist = 0.003``.

    ``mode='topk'`` is the plain top-k baseline (the paper's "TopK
    Selector", Fig. 4 and Table 6), ranked by M alone.

    Locations outside ``valid_mask`` (e.g. image padding) are chosen only
    after every valid one has been.

    Example:
        On the 4 × 4 map of probabilities (the sigmoid of the logits)::

            0.90 0.85 0.10 0.10
            0.80 0.70 0.10 0.10
            0.10 0.10 0.10 0.65
            0.10 0.10 0.10 0.10

        top-3 gives the clustered indices [0, 1, 4]. DPS with
        ``dist_weight=0.1 * sqrt(32)`` (0.1 per map pixel on this 4 × 4
        map) first takes 0; then index 11 scores 0.65 + 0.1·√13 = 1.011
        against 0.85 + 0.1·1 = 0.95 for index 1, so 11 is taken; then index
        1 (0.95) beats index 4 (0.90). DPS gives [0, 11, 1], one point on
        the second blob.

    Args:
        num_points (int): Number of points N. Defaults to 10.
        dist_weight (float): W_dist, per map diagonal. Defaults to 0.003
            (InstanceVG).
        mode (str): ``'dps'`` or ``'topk'``.
        init_cfg (dict, optional): Initialisation config.
    """

    #: subtracted from invalid locations; larger than any score + distance
    invalid_penalty = 1e6

    def __init__(
        self,
        num_points: int = 10,
        dist_weight: float = 0.003,
        mode: str = 'dps',
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        assert mode in ('dps', 'topk'), mode
        self.num_points = num_points
        self.dist_weight = dist_weight
        self.mode = mode

    def _greedy(self, scores: Tensor, hw_shape: Tuple[int, int]) -> Tensor:
        """Algorithm 1 on flat scores (B, h*w); returns indices (B, N)."""
        bsz, num_locs = scores.shape
        h, w = hw_shape
        device = scores.device
        rows, cols = torch.meshgrid(
            torch.arange(h, device=device),
            torch.arange(w, device=device),
            indexing='ij',
        )
        coords = torch.stack([cols, rows], dim=-1).reshape(-1, 2).float()
        weight = self.dist_weight / math.sqrt(h * h + w * w)

        batch = torch.arange(bsz, device=device)
        chosen = torch.zeros(bsz, num_locs, dtype=torch.bool, device=device)
        min_dist = torch.zeros_like(scores)
        picks = []
        for k in range(self.num_points):
            combined = scores + weight * min_dist if k else scores
            best = combined.masked_fill(chosen, float('-inf')).argmax(dim=1)
            picks.append(best)
            chosen[batch, best] = True
            dist = (coords[None] - coords[best][:, None]).norm(dim=-1)
            min_dist = dist if k == 0 else torch.minimum(min_dist, dist)
        return torch.stack(picks, dim=1)

    @torch.no_grad()
    def forward(
        self, score_map: Tensor, valid_mask: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        """Select the points.

        Args:
            score_map (Tensor): Score map M_s logits, shape (B, h, w).
            valid_mask (Tensor, optional): Shape (B, h, w), True where a
                point may be chosen.

        Returns:
            tuple[Tensor, Tensor]:

            - ``indices``: shape (B, N), long, flat indices ``row * w + col``
              in selection order;
            - ``points``: shape (B, N, 2), normalised (x, y) pixel centres
              (:func:`indices_to_points`).
        """
        bsz, h, w = score_map.shape
        assert self.num_points <= h * w, (
            f'cannot choose {self.num_points} points on a {h}x{w} map'
        )
        scores = score_map.detach().float().flatten(1).sigmoid()
        if valid_mask is not None:
            invalid = ~valid_mask.bool().flatten(1)
            scores = scores - invalid.float() * self.invalid_penalty
        if self.mode == 'topk':
            indices = scores.topk(self.num_points, dim=1).indices
        else:
            indices = self._greedy(scores, (h, w))
        return indices, indices_to_points(indices, (h, w))
