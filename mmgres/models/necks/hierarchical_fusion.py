# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's hierarchical layer fusion (Eq. 9)."""

from typing import Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


@MODELS.register_module()
class HierarchicalLayerFusion(BaseModule):
    """Average each stage's layers into its fused feature, for free.

    .. math::

        F^i_{scale} = \\tfrac12 \\Big(F_i + \\tfrac{1}{Q_i}
                      \\sum_{j=1}^{Q_i} V_{i,j}\\Big)            (Eq. 9)

    where ``F_i`` is stage i's anchoring fusion feature and ``V_{i,j}`` the
    output of its j-th layer (the ``feats`` and ``layer_feats`` of
    :class:`AnchoredVisionBackbone`). It has no parameters.

    Worked example: ``F_i = 4`` everywhere and two layers ``V = 0, 2``
    give ``F_scale = (4 + (0 + 2) / 2) / 2 = 2.5``.

    Args:
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self, init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)

    def forward(
        self,
        feats: Sequence[Tensor],
        layer_feats: Sequence[Sequence[Tensor]],
    ) -> Tuple[Tensor, ...]:
        """Eq. 9 for every stage.

        Args:
            feats (Sequence[Tensor]): ``F_i``, each (B, C_i, H_i, W_i).
            layer_feats (Sequence[Sequence[Tensor]]): Per stage, the Q_i
                layer outputs ``V_{i,j}``, each shaped like ``F_i``.

        Returns:
            tuple[Tensor]: ``F^i_scale`` per stage, shaped like ``F_i``.
        """
        if len(feats) != len(layer_feats):
            raise ValueError(
                f'{len(feats)} stage features but {len(layer_feats)} '
                'lists of layer features'
            )
        outs = []
        for feat, layers in zip(feats, layer_feats):
            if len(layers) == 0:
                raise ValueError('A stage has no layer features')
            mean = sum(layers) / len(layers)
            outs.append(0.5 * (feat + mean))
        return tuple(outs)
