# Copyright (c) mmgres contributors. All rights reserved.
"""A ViT or Swin run stage by stage with RaAM between the stages."""

import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.models.backbones import SwinTransformer
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmseg.models.backbones import VisionTransformer
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptConfigType, OptMultiConfig

INTERACTIONS = {
    'anchor': 'RegionAwareAnchoringNetwork',
    'direct': 'PixelWordAttentionFusion',
}


def _to_map(tokens: Tensor, hw: Tuple[int, int]) -> Tensor:
    """(B, H·W, C) tokens → (B, C, H, W) map."""
    b, _, c = tokens.shape
    return tokens.transpose(1, 2).reshape(b, c, *hw)


def _to_tokens(feat: Tensor) -> Tensor:
    """(B, C, H, W) map → (B, H·W, C) tokens."""
    return feat.flatten(2).transpose(1, 2)


@MODELS.register_module()
class AnchoredVisionBackbone(BaseModule):
    """RaAM-RVG's vision encoder: a pretrained ViT or Swin, run stage by
    stage, with a vision-language interaction block after every stage.

    The wrapped backbone is mmseg's :class:`VisionTransformer` (ViT-B is the
    paper's default), whose layers are split into ``num_stages`` = K equal
    stages, or mmdet's :class:`SwinTransformer`, whose own 4 stages are used.
    After stage i (layers ``V_{i,1..Q_i}``, last output ``F¹_i``) the
    interaction block fuses the words into ``F¹_i`` and the next stage runs
    on the result ``F_i`` (for Swin, through the stage's patch merging).

    ``interaction='anchor'`` uses :class:`RegionAwareAnchoringNetwork`
    (RaAM); ``'direct'`` uses :class:`PixelWordAttentionFusion` (LAVT's
    pixel-word attention, the paper's Table 5(a) baseline). Both return the
    per-region anchors ``P_i``; the direct block's are pooled features.

    Anchors (``'anchor'`` only): N = ``num_anchors`` learnable anchors of
    width C_l, one per cell of the ``region_grid`` (4×4 → N = 16), are
    created fresh for each of the first J = ``num_init_stages`` stages
    (Sec. 3.2). Stage 1 starts from its fresh anchors ``P_0``; a later
    stage i ≤ J adds its fresh anchors to those propagated from stage i-1
    (ours: our reading of "we embed the initialized region-aware anchor only
    in the first J stages"; replacing them instead would leave stage i-1's
    propagation without a gradient); stages after J only propagate.

    Pretrained weights: the wrapped backbone keeps its own ``init_cfg``
    (``dict(type='Pretrained', checkpoint=...)`` inside ``vision``), loaded
    by its own ``init_weights`` with its own key format: mmseg ViT keys
    (convert timm checkpoints with
    ``tools/model_converters/vit2mmgres.py``), mmdet Swin keys prefixed with
    ``backbone.`` or official Swin ones with ``convert_weights=True``. The
    interaction blocks and anchors are new, randomly initialised.

    Swin's per-stage output norms (``out_indices``) are not used: the
    interaction already ends with a LayerNorm (Eq. 7), so ``out_indices`` is
    set to ``()`` and none are built (their checkpoint keys are skipped).
    ViT's ``final_norm`` and ``pre_norm`` apply as in mmseg.

    Args:
        vision (dict): Config of the wrapped ``mmseg.VisionTransformer`` or
            ``SwinTransformer``, with its ``init_cfg``.
        text_channels (int): C_l, the width of the word features.
        interaction (str): ``'anchor'`` (RaAM) or ``'direct'``.
        num_stages (int): K, the number of ViT stages (Swin: must be its
            number of stages). Defaults to 4.
        num_anchors (int): N. Must equal rows × columns of ``region_grid``.
        region_grid (tuple[int, int]): Region cells (rows, columns).
        num_init_stages (int): J, the stages with fresh anchors. Default 2.
        interaction_cfg (dict, optional): Extra arguments of every
            interaction block (e.g. ``use_l2v_gate=False`` or
            ``propagate_from='visual'``).
        init_cfg (dict, optional): Initialization config of the wrapper.
    """

    def __init__(
        self,
        vision: ConfigType,
        text_channels: int = 768,
        interaction: str = 'anchor',
        num_stages: int = 4,
        num_anchors: int = 16,
        region_grid: Sequence[int] = (4, 4),
        num_init_stages: int = 2,
        interaction_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if interaction not in INTERACTIONS:
            raise ValueError(
                f'interaction must be one of {list(INTERACTIONS)}, '
                f'got {interaction!r}'
            )
        region_grid = tuple(region_grid)
        if num_anchors != region_grid[0] * region_grid[1]:
            raise ValueError(
                f'num_anchors={num_anchors} must equal the number of cells '
                f'of region_grid={region_grid}'
            )
        if not 1 <= num_init_stages <= num_stages:
            raise ValueError('num_init_stages must be in [1, num_stages]')
        self.interaction = interaction
        self.num_stages = num_stages
        self.num_anchors = num_anchors
        self.region_grid = region_grid
        self.num_init_stages = num_init_stages
        self.text_channels = text_channels

        # a ConfigDict all the way down: mmdet's Swin reads
        # ``init_cfg.checkpoint`` as an attribute
        vision = ConfigDict(copy.deepcopy(vision))
        if 'Swin' in str(vision.get('type', '')):
            vision['out_indices'] = ()
        self.vision = MODELS.build(vision)
        if isinstance(self.vision, VisionTransformer):
            self.arch = 'vit'
            num_layers = len(self.vision.layers)
            if num_layers % num_stages:
                raise ValueError(
                    f'{num_layers} ViT layers do not split into '
                    f'{num_stages} equal stages'
                )
            per_stage = num_layers // num_stages
            self.stage_layers = [
                list(range(i * per_stage, (i + 1) * per_stage))
                for i in range(num_stages)
            ]
            projection = self.vision.patch_embed.projection
            dims = projection.out_channels
            self.out_channels = [dims] * num_stages
        elif isinstance(self.vision, SwinTransformer):
            self.arch = 'swin'
            if len(self.vision.stages) != num_stages:
                raise ValueError(
                    f'Swin has {len(self.vision.stages)} stages, '
                    f'num_stages={num_stages}'
                )
            self.out_channels = list(self.vision.num_features)
        else:
            raise TypeError(
                'vision must be mmseg VisionTransformer or mmdet '
                f'SwinTransformer, got {type(self.vision).__name__}'
            )

        self.interactions = nn.ModuleList()
        for i, channels in enumerate(self.out_channels):
            cfg = dict(
                type=INTERACTIONS[interaction],
                visual_channels=channels,
                text_channels=text_channels,
            )
            if interaction == 'anchor':
                cfg['anchor_channels'] = (
                    text_channels if i == 0 else self.out_channels[i - 1]
                )
            else:
                cfg['region_grid'] = region_grid
            cfg.update(interaction_cfg or {})
            self.interactions.append(MODELS.build(cfg))
        if interaction == 'anchor':
            self.anchor_embeds = nn.Parameter(
                torch.zeros(num_init_stages, num_anchors, text_channels)
            )
            trunc_normal_(self.anchor_embeds, std=0.02)
        else:
            self.anchor_embeds = None

    # ------------------------------------------------------------------ #
    def _stage_anchors(
        self, i: int, prev: Optional[Tensor]
    ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """(incoming anchors, fresh anchor embedding) of stage i."""
        if self.anchor_embeds is None:
            return None, None
        if i >= self.num_init_stages:
            return prev, None
        return prev, self.anchor_embeds[i]

    def _interact(
        self,
        i: int,
        feat: Tensor,
        text: Tensor,
        text_mask: Optional[Tensor],
        prev: Optional[Tensor],
    ) -> Tuple[Tensor, Tensor]:
        anchors, embed = self._stage_anchors(i, prev)
        return self.interactions[i](
            feat, text, text_mask, anchors=anchors, anchor_embed=embed
        )

    def _forward_vit(self, inputs, text, text_mask):
        vit = self.vision
        x, hw = vit.patch_embed(inputs)
        cls_tokens = vit.cls_token.expand(x.shape[0], -1, -1)
        x = vit._pos_embeding(
            torch.cat((cls_tokens, x), dim=1), hw, vit.pos_embed
        )
        num_extra = 1 if vit.with_cls_token else 0
        if not vit.with_cls_token:
            x = x[:, 1:]
        if vit.pre_norm:
            x = vit.pre_ln(x)
        feats, layer_feats, anchors_out = [], [], []
        anchors = None
        last = len(vit.layers) - 1
        for i, layer_ids in enumerate(self.stage_layers):
            stage_feats = []
            for j in layer_ids:
                x = vit.layers[j](x)
                if j == last and vit.final_norm:
                    x = vit.norm1(x)
                stage_feats.append(_to_map(x[:, num_extra:], hw))
            fused, anchors = self._interact(
                i, stage_feats[-1], text, text_mask, anchors
            )
            x = torch.cat([x[:, :num_extra], _to_tokens(fused)], dim=1)
            feats.append(fused)
            layer_feats.append(tuple(stage_feats))
            anchors_out.append(anchors)
        return feats, layer_feats, anchors_out

    def _forward_swin(self, inputs, text, text_mask):
        swin = self.vision
        x, hw = swin.patch_embed(inputs)
        if swin.use_abs_pos_embed:
            x = x + swin.absolute_pos_embed
        x = swin.drop_after_pos(x)
        feats, layer_feats, anchors_out = [], [], []
        anchors = None
        for i, stage in enumerate(swin.stages):
            stage_feats = []
            for block in stage.blocks:
                x = block(x, hw)
                stage_feats.append(_to_map(x, hw))
            fused, anchors = self._interact(
                i, stage_feats[-1], text, text_mask, anchors
            )
            x = _to_tokens(fused)
            if stage.downsample is not None:
                x, hw = stage.downsample(x, hw)
            feats.append(fused)
            layer_feats.append(tuple(stage_feats))
            anchors_out.append(anchors)
        return feats, layer_feats, anchors_out

    def forward(
        self,
        inputs: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor] = None,
    ) -> Dict[str, tuple]:
        """Encode the images, fusing the words after every stage.

        Args:
            inputs (Tensor): Images, shape (B, 3, H, W).
            text_feats (Tensor): Word features ``L``, shape (B, T, C_l)
                (``token_feats`` of :class:`HFTextEncoder`).
            text_padding_mask (Tensor, optional): (B, T), True for padding.

        Returns:
            dict: Per stage i = 1..K:

            - ``feats``: the anchoring fusion features ``F_i``,
              (B, C_i, H_i, W_i);
            - ``layer_feats``: the outputs ``V_{i,j}`` of the stage's
              layers (a tuple of Q_i maps (B, C_i, H_i, W_i)); the last one
              is ``F¹_i``, before the fusion;
            - ``anchors``: ``P_i``, shape (B, N, C_i), regions in row-major
              order of ``region_grid``.
        """
        if self.arch == 'vit':
            outs = self._forward_vit(inputs, text_feats, text_padding_mask)
        else:
            outs = self._forward_swin(inputs, text_feats, text_padding_mask)
        feats, layer_feats, anchors = outs
        return dict(
            feats=tuple(feats),
            layer_feats=tuple(layer_feats),
            anchors=tuple(anchors),
        )

    @property
    def stage_depths(self) -> List[int]:
        """Q_i, the number of layers of each stage."""
        if self.arch == 'vit':
            return [len(ids) for ids in self.stage_layers]
        return [len(stage.blocks) for stage in self.vision.stages]
