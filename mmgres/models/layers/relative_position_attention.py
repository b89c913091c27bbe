# Copyright (c) mmgres contributors. All rights reserved.
"""Self-attention among object queries that sees where each object is."""

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.utils import ConfigType, OptMultiConfig


class RelativePositionQueryAttention(BaseModule):
    """Multi-head self-attention among queries with relative positions.

    Each query ``i`` has a centre ``c_i`` (normalised ``(x, y)``, e.g. the
    centroid of its mask). With ``d_ij = c_j - c_i`` and an MLP ``R``, the
    attention of head ``h`` is (relative-position self-attention, Shaw et
    al., 2018, on object centres)::

        q_i = x_i + A(c_i)
        a_ij = softmax_j( W_q q_i . (W_k q_j + R_k(d_ij)) / sqrt(d_h) )
        y_i = LN(x_i + W_o sum_j a_ij (W_v q_j + R_v(d_ij)))

    so what query ``i`` gathers from query ``j`` says where ``j`` lies
    relative to ``i`` ("is the red square I attend to above me?"), and ``A``
    gives its own absolute place ("am I on the left?").

    Args:
        embed_dims (int): Query width C.
        num_heads (int): Heads; must divide C. Defaults to 4.
        norm_cfg (dict): Norm after the residual. Defaults to LN.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int = 4,
        norm_cfg: ConfigType = dict(type='LN'),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(
                f'num_heads={num_heads} must divide embed_dims={embed_dims}'
            )
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.abs_pos = nn.Sequential(
            nn.Linear(2, embed_dims),
            nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims),
        )
        self.rel_pos = nn.Sequential(
            nn.Linear(2, embed_dims),
            nn.ReLU(inplace=True),
            nn.Linear(embed_dims, 2 * embed_dims),
        )
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, query: Tensor, centres: Tensor) -> Tensor:
        """Attend.

        Args:
            query (Tensor): (B, Q, C).
            centres (Tensor): (B, Q, 2), normalised ``(x, y)``.

        Returns:
            Tensor: (B, Q, C).
        """
        b, n, c = query.shape
        h, d = self.num_heads, c // self.num_heads
        x = query + self.abs_pos(centres)
        q, k, v = self.qkv(x).view(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        # (B, Q_i, Q_j, 2): where j is, seen from i
        delta = centres[:, None, :, :] - centres[:, :, None, :]
        rel = self.rel_pos(delta).view(b, n, n, 2, h, d)
        rk, rv = rel.permute(3, 0, 4, 1, 2, 5)  # each (B, h, Q_i, Q_j, d)
        logits = torch.einsum('bhid,bhjd->bhij', q, k)
        logits = logits + torch.einsum('bhid,bhijd->bhij', q, rk)
        attn = (logits / d**0.5).softmax(-1)
        out = torch.einsum('bhij,bhjd->bhid', attn, v)
        out = out + torch.einsum('bhij,bhijd->bhid', attn, rv)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.norm(query + self.out_proj(out))
