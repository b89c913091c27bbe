# Copyright (c) mmgres contributors. All rights reserved.
"""The no-target branch: does the expression refer to anything at all?"""

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.models.layers.text_pooling import masked_text_pool
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig, SampleList


@MODELS.register_module()
class NoTargetBranch(BaseModule):
    """Two-class no-target classifier over S_global and the sentence.

    IGVG's global branch predicts "no target" from S_global (Sec. 3; ReLA's
    and InstanceVG's recipe): a per-pixel MLP (1x1 convs) over the feature
    map, averaged over all pixels, is fused with the pooled sentence feature
    (ours: the expression itself says what should be absent) and a linear
    layer gives two logits.

    Class index 0 means "has a target", 1 means "no target". The loss is
    mmdet's ``CrossEntropyLoss`` with ``class_weight=[0.9, 1.1]`` as ReLA,
    averaged as ``torch.nn.functional.cross_entropy(weight=...)`` does, i.e.
    divided by the summed class weights of the batch's labels.

    Example:
        Logits [[2, 0], [0, 1]] with labels [0 (target), 1 (no target)] cost
        log(1 + e^-2) = 0.1269 and log(1 + e^-1) = 0.3133, so the loss is
        (0.9 * 0.1269 + 1.1 * 0.3133) / (0.9 + 1.1) = 0.2294.

    Args:
        in_channels (int): Channels of the visual features (S_global or image
            tokens). Defaults to 256.
        text_channels (int, optional): Width of the text features; None
            classifies from the visual features alone. Defaults to 256.
        feat_channels (int): Hidden width. Defaults to 256.
        num_pixel_convs (int): 1x1 conv + ReLU layers applied to every pixel
            before pooling (0: plain average pooling). Defaults to 2.
        text_pool (str): ``'mean'`` or ``'max'`` over the real words, used
            when the sentence feature is not given. Defaults to ``'mean'``.
        score_thr (float): No-target probability above which
            :meth:`predict` says "no target". Defaults to 0.5.
        loss_cls (dict): Defaults to ``CrossEntropyLoss`` with class weights
            [0.9, 1.1] and ``loss_weight=1.0`` (InstanceVG weighs it 0.2 in
            the total; set ``loss_weight`` in config).
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        in_channels: int = 256,
        text_channels: Optional[int] = 256,
        feat_channels: int = 256,
        num_pixel_convs: int = 2,
        text_pool: str = 'mean',
        score_thr: float = 0.5,
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
        self.text_channels = text_channels
        self.text_pool = text_pool
        self.score_thr = score_thr

        layers = []
        c = in_channels
        for _ in range(num_pixel_convs):
            layers += [nn.Conv2d(c, feat_channels, 1), nn.ReLU(inplace=True)]
            c = feat_channels
        self.pixel_mlp = nn.Sequential(*layers)
        self.visual_channels = c
        if text_channels:
            self.text_fc = nn.Sequential(
                nn.Linear(text_channels, feat_channels), nn.ReLU(inplace=True)
            )
            self.fuse_fc = nn.Sequential(
                nn.Linear(c + feat_channels, feat_channels),
                nn.ReLU(inplace=True),
            )
            c = feat_channels
        else:
            self.text_fc = None
            self.fuse_fc = nn.Identity()
        self.cls_fc = nn.Linear(c, 2)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(
        self,
        feats: Tensor,
        text_feats: Optional[Tensor] = None,
        text_padding_mask: Optional[Tensor] = None,
        sentence_feat: Optional[Tensor] = None,
    ) -> Tensor:
        """Predict the no-target logits.

        Args:
            feats (Tensor): S_global, shape (B, C, H, W), or image tokens,
                shape (B, N, C).
            text_feats (Tensor, optional): Word features (B, L, C_t), pooled
                when ``sentence_feat`` is not given.
            text_padding_mask (Tensor, optional): Shape (B, L), True at
                padding.
            sentence_feat (Tensor, optional): Shape (B, C_t).

        Returns:
            Tensor: Logits, shape (B, 2); index 1 is "no target".
        """
        if feats.dim() == 3:  # tokens (B, N, C) -> (B, C, N, 1)
            feats = feats.transpose(1, 2).unsqueeze(-1)
        if feats.dim() != 4:
            raise ValueError(
                'feats must be (B, C, H, W) or (B, N, C), got '
                f'{tuple(feats.shape)}.'
            )
        visual = self.pixel_mlp(feats).mean(dim=(2, 3))
        if self.text_fc is not None:
            if sentence_feat is None:
                if text_feats is None:
                    raise ValueError(
                        'NoTargetBranch with text needs `text_feats` or '
                        '`sentence_feat`.'
                    )
                sentence_feat = masked_text_pool(
                    text_feats, text_padding_mask, self.text_pool
                )
            fused = torch.cat([visual, self.text_fc(sentence_feat)], dim=-1)
            visual = self.fuse_fc(fused)
        return self.cls_fc(visual)

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
        """:meth:`loss` with the labels read from ``metainfo['no_target']``
        of the data samples."""
        labels = [
            bool(s.metainfo.get('no_target', False))
            for s in batch_data_samples
        ]
        return self.loss(logits, labels)

    def predict(self, logits: Tensor) -> Tuple[Tensor, Tensor]:
        """Turn logits into decisions.

        Args:
            logits (Tensor): Shape (B, 2).

        Returns:
            tuple[Tensor, Tensor]: The no-target probability (B,) (the
            ``pred_nt_score`` of the data samples) and the decision (B,)
            bool, ``probability > score_thr`` (``pred_no_target``).
        """
        score = logits.softmax(dim=-1)[:, 1]
        return score, score > self.score_thr
