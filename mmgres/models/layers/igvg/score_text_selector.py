# Copyright (c) mmgres contributors. All rights reserved.
"""Score Text Selector (STS) of IGVG's Adaptive Query Generation."""

from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class ScoreTextSelector(BaseModule):
    """Pick ``num_queries`` text tokens to query the image with (IGVG STS).

    IGVG (Sec. 3.1.1, Appendix Algorithm 2) drops the padding tokens, scores
    every remaining token by its L2 norm and keeps the ``num_queries``
    highest-scoring ones. Slot ``k`` of the output holds the k-th best real
    token (ties keep sentence order).

    **Sentences with fewer real tokens than slots** (``n < num_queries``):
    the first ``n`` slots hold the ranked real tokens; every later slot is
    filled by ``fill_mode``:

    - ``'repeat'``: slot ``k`` repeats the ``(k mod n)``-th ranked token, so
      every query still carries text;
    - ``'zero'`` (InstanceVG's released code): such a sentence is not
      ranked at all. Slot ``k`` takes sequence position ``k`` (sentence
      order), zeroed where that position is padding (or beyond the
      sequence), i.e. the real tokens in order, then zero vectors. Only a
      sentence with at least ``num_queries`` real tokens is ranked.

    Filled slots are marked invalid in the returned mask, so a score map
    pooled over the valid slots counts every real token once. A sentence
    with no real token at all (only padding) gets no valid slot; with
    ``'repeat'`` its slots then repeat position 0.

    ``rank_by`` chooses the score:

    - ``'l2'``: L2 norm (the paper);
    - ``'mean'``: mean over channels (what InstanceVG's code computes);
    - ``'position'``: no STS, the ablation baseline. The first
      ``num_queries`` *positions* of the sequence are taken in order,
      padding positions included and counted valid, as InstanceVG's
      no-STS branch ignores the padding mask. Only slots beyond the
      sequence length are filled and invalid.

    Example:
        Four tokens with norms [1, 5, 3, 9], the last one padding, and
        ``num_queries=4``: the real tokens rank 1 (5), 2 (3), 0 (1), so the
        indices are [1, 2, 0, 1] with ``'repeat'`` (slot 3 repeats rank 0)
        and the valid mask is [True, True, True, False].

    Args:
        num_queries (int): Number of selected tokens N_q. Defaults to 10.
        rank_by (str): ``'l2'``, ``'mean'`` or ``'position'``.
        fill_mode (str): ``'repeat'`` or ``'zero'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        num_queries: int = 10,
        rank_by: str = 'l2',
        fill_mode: str = 'repeat',
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        assert rank_by in ('l2', 'mean', 'position'), rank_by
        if fill_mode not in ('repeat', 'zero'):
            raise ValueError(
                f"fill_mode must be 'repeat' or 'zero', got {fill_mode!r}."
            )
        self.num_queries = num_queries
        self.rank_by = rank_by
        self.fill_mode = fill_mode

    def token_scores(self, text_feats: Tensor) -> Tensor:
        """Per-token responsiveness score, shape (B, L)."""
        if self.rank_by == 'l2':
            return text_feats.norm(dim=-1)
        if self.rank_by == 'mean':
            return text_feats.mean(dim=-1)
        length = text_feats.shape[1]
        # 'position': earlier tokens score higher
        pos = torch.arange(length, device=text_feats.device)
        return -pos.to(text_feats.dtype).expand(text_feats.shape[0], -1)

    def forward(
        self,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Select the tokens.

        Args:
            text_feats (Tensor): Text tokens F_t, shape (B, L, C).
            text_padding_mask (Tensor, optional): Shape (B, L), True at
                padding tokens. None means no padding.

        Returns:
            tuple[Tensor, Tensor, Tensor]:

            - ``selected``: shape (B, N_q, C), the selected tokens.
            - ``valid``: shape (B, N_q), bool, True where the slot holds a
              distinct real token (not a fill).
            - ``indices``: shape (B, N_q), long, the token position each
              slot was taken from; -1 for zero-filled slots.
        """
        bsz, length, _ = text_feats.shape
        device = text_feats.device
        scores = self.token_scores(text_feats.detach()).float()
        if self.rank_by == 'position' or text_padding_mask is None:
            num_real = torch.full((bsz,), length, device=device)
        else:
            pad = text_padding_mask.bool()
            scores = scores.masked_fill(pad, float('-inf'))
            num_real = (~pad).sum(dim=1)
        # descending order, padding last; stable keeps sentence order on ties
        order = scores.argsort(dim=1, descending=True, stable=True)

        slots = torch.arange(self.num_queries, device=device)[None]
        valid = slots < num_real[:, None]  # (B, N)
        # rank each slot reads: itself if real, else the repeat rule
        rank = torch.where(
            valid, slots, slots % num_real.clamp(min=1)[:, None]
        )
        if self.fill_mode == 'zero':
            # short sentences keep sentence order (InstanceVG)
            short = (num_real < self.num_queries)[:, None]
            rank = torch.where(short, slots, rank).clamp(max=length - 1)
            position = slots.clamp(max=length - 1).expand(bsz, -1)
        indices = order.gather(1, rank)
        if self.fill_mode == 'zero':
            indices = torch.where(short, position, indices)
        selected = text_feats.gather(
            1, indices[..., None].expand(-1, -1, text_feats.shape[-1])
        )
        if self.fill_mode == 'zero':
            filled = ~valid | (slots >= length)
            if text_padding_mask is not None:
                filled = filled | text_padding_mask.bool().gather(1, indices)
            selected = selected.masked_fill(filled[..., None], 0.0)
            indices = indices.masked_fill(filled, -1)
        return selected, valid, indices
