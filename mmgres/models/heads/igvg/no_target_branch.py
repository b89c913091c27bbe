# Copyright (c) mmgres contributors. All rights reserved.
"""The no-target branch: does the expression refer to anything at all?"""

from typing import Dict, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.models.utils.referring_targets import is_no_target
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig, SampleList


@MODELS.register_module()
class NoTargetBranch(BaseModule):
    """Two-class no-target classifier over S_global.

    IGVG's global branch guides the non-target prediction with S_global
    (Sec. 3, "3) guiding non-target predictions"). As InstanceVG's
    ``nt_embed`` (``uni_gref_deformable_head.py``:
    ``self.nt_embed(pred_mask.flatten(2).transpose(1, 2)).mean(1)``, a
    3-layer MLP applied to every pixel of S_global, then averaged): here
    ``num_pixel_convs`` 1x1 conv + ReLU layers per pixel, the average over
    the pixels, then a linear layer to two logits (a linear layer commutes
    with the average, so this is InstanceVG's MLP-then-mean). The branch
    reads no text: BEiT-3 has fused the expression into S_global.

    Class index 0 means "has a target", 1 means "no target". The loss is
    mmdet's ``CrossEntropyLoss`` with ``class_weight=[0.9, 1.1]`` as ReLA
    and InstanceVG (``refer_ce_loss(nt_label, is_empty, [0.9, 1.1])``),
    averaged as ``torch.nn.functional.cross_entropy(weight=...)`` does,
    i.e. divided by the summed class weights of the batch's labels.

    Example:
        Logits [[2, 0], [0, 1]] with labels [0 (target), 1 (no target)] cost
        log(1 + e^-2) = 0.1269 and log(1 + e^-1) = 0.3133, so the loss is
        (0.9 * 0.1269 + 1.1 * 0.3133) / (0.9 + 1.1) = 0.2294.

    Args:
        in_channels (int): Channels of S_global. Defaults to 256.
        feat_channels (int): Hidden width. Defaults to 256 (InstanceVG).
        num_pixel_convs (int): 1x1 conv + ReLU layers applied to every pixel
            before pooling (0: plain average pooling). Defaults to 2
            (InstanceVG's 3-layer MLP: two hidden layers, then the logits).
        loss_cls (dict): Defaults to ``CrossEntropyLoss`` with class weights
            [0.9, 1.1] and ``loss_weight=1.0`` (InstanceVG weighs it 0.2 in
            the total; set ``loss_weight`` in config).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: int = 256,
        feat_channels: int = 256,
        num_pixel_convs: int = 2,
        loss_cls: ConfigType = dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            class_weight=[0.9, 1.1],
            loss_weight=1.0,
        ),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        layers = []
        c = in_channels
        for _ in range(num_pixel_convs):
            layers += [nn.Conv2d(c, feat_channels, 1), nn.ReLU(inplace=True)]
            c = feat_channels
        self.pixel_mlp = nn.Sequential(*layers)
        self.visual_channels = c
        self.cls_fc = nn.Linear(c, 2)
        self.loss_cls = MODELS.build(loss_cls)

    def pool(self, feats: Tensor) -> Tensor:
        """The per-pixel MLP averaged over the map: (B, C, H, W) ->
        (B, ``visual_channels``)."""
        if feats.dim() != 4:
            raise ValueError(
                f'feats must be (B, C, H, W), got {tuple(feats.shape)}.'
            )
        return self.pixel_mlp(feats).mean(dim=(2, 3))

    def forward(self, feats: Tensor) -> Tensor:
        """Predict the no-target logits.

        Args:
            feats (Tensor): S_global, shape (B, C, H, W).

        Returns:
            Tensor: Logits, shape (B, 2); index 1 is "no target".
        """
        return self.cls_fc(self.pool(feats))

    def loss(
        self, logits: Tensor, no_target: Union[Tensor, Sequence[bool]]
    ) -> Dict[str, Tensor]:
        """The weighted cross-entropy.

        Args:
            logits (Tensor): Shape (B, 2), from :meth:`forward`.
            no_target (Tensor | Sequence[bool]): Ground truth, shape (B,),
                True (1) where the expression has no target.

        Returns:
            dict: ``loss_nt``.
        """
        labels = torch.as_tensor(no_target, device=logits.device).long()
        labels = labels.reshape(-1)
        if labels.numel() != logits.shape[0]:
            raise ValueError(
                f'{logits.shape[0]} logits but {labels.numel()} labels.'
            )
        class_weight = getattr(self.loss_cls, 'class_weight', None)
        avg_factor = None
        if class_weight is not None:
            cw = logits.new_tensor(class_weight)
            avg_factor = cw[labels].sum()
        return dict(
            loss_nt=self.loss_cls(logits, labels, avg_factor=avg_factor)
        )

    def loss_by_samples(
        self, logits: Tensor, batch_data_samples: SampleList
    ) -> Dict[str, Tensor]:
        """:meth:`loss` with the labels of the data samples
        (:func:`~mmgres.models.utils.referring_targets.is_no_target`)."""
        labels = [is_no_target(s) for s in batch_data_samples]
        return self.loss(logits, labels)
