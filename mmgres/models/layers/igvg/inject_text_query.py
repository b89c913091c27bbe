# Copyright (c) mmgres contributors. All rights reserved.
"""Inject Text Query (ITQ) of IGVG's Adaptive Query Generation."""

from typing import Optional

import torch
from mmdet.models.layers.transformer import MLP
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class InjectTextQuery(BaseModule):
    """Initial decoder queries from point features and text (IGVG Eq. 2).

    ``Q_init = MLP(concat(Q_filter, F_q))``, where ``Q_filter`` are the
    image features at the selected reference points and ``F_q`` the
    text-derived queries (the selected tokens after attending to the image),
    one per point. The MLP is mmdet's DETR MLP (ReLU between layers);
    InstanceVG uses 3 layers of width C.

    With ``use_text=False`` (the ITQ ablation) no text is injected:
    ``Q_init = MLP(Q_filter)`` with the same depth and width.

    Args:
        embed_dims (int): Channels C. Defaults to 256.
        num_layers (int): MLP layers. Defaults to 3.
        use_text (bool): Inject the text queries. Defaults to True.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_layers: int = 3,
        use_text: bool = True,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.use_text = use_text
        in_dims = embed_dims * 2 if use_text else embed_dims
        self.mlp = MLP(in_dims, embed_dims, embed_dims, num_layers)

    def forward(
        self, point_feats: Tensor, text_queries: Optional[Tensor] = None
    ) -> Tensor:
        """
        Args:
            point_feats (Tensor): Q_filter, shape (B, N, C).
            text_queries (Tensor, optional): F_q, shape (B, N, C); required
                when ``use_text``, ignored otherwise.

        Returns:
            Tensor: Q_init, shape (B, N, C).
        """
        if self.use_text:
            assert text_queries is not None, 'ITQ needs the text queries'
            point_feats = torch.cat([point_feats, text_queries], dim=-1)
        return self.mlp(point_feats)
