# Copyright (c) mmgres contributors. All rights reserved.
"""IGVG's Adaptive (attention-guided) Query Generation, AQG."""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.layers import SinePositionalEncoding
from mmdet.structures import DetDataSample
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.models.utils.referring_targets import merged_targets
from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig


def minimap_targets(
    batch_data_samples: Sequence[DetDataSample], size: Tuple[int, int]
) -> Tensor:
    """The merged ground-truth masks, downsampled to the score map (minimap).

    Each sample's merged mask (:func:`merged_targets`: ``gt_sem_seg``, else
    the union of the instance masks; empty for a no-target sample; 255
    counts as background) in the padded batch frame
    (``batch_input_shape``, the frame the features cover), resized to
    ``size`` by nearest neighbour, a binary minimap as InstanceVG's
    ``F.interpolate(target_mask, size=attn_map.shape, mode='nearest')``.

    Example:
        The 4 × 4 mask ``[[1,1,0,0],[1,0,0,0],[0,0,1,1],[0,0,1,1]]`` at
        size (2, 2) gives ``[[1,0],[0,1]]`` (it reads pixels (0,0), (0,2),
        (2,0), (2,2)).

    Args:
        batch_data_samples (Sequence[DetDataSample]): The batch.
        size (tuple[int, int]): (h, w) of the score map.

    Returns:
        Tensor: Shape (B, h, w), float 0 or 1.
    """
    meta = batch_data_samples[0].metainfo
    frame = meta.get('batch_input_shape', meta.get('img_shape'))
    merged = merged_targets(batch_data_samples, tuple(frame[:2]))
    merged = merged[:, None].float()
    return F.interpolate(merged, size=tuple(size), mode='nearest')[:, 0]


@MODELS.register_module()
class AdaptiveQueryGenerator(BaseModule):
    """AQG: initial queries and reference points for IGVG's decoder.

    Pipeline (IGVG Sec. 3.1.1, Fig. 3):

    1. **STS** (:class:`ScoreTextSelector`) picks N_q text tokens.
    2. **Cross-attention** (:class:`ScoreMapCrossAttention`): the selected
       tokens attend to the image tokens F_i (with a sine positional
       encoding on the keys), giving per-query attention logits M_attn
       (B, N_q, h, w) and the attended text queries F_q.
    3. **Score map** M_s (B, h, w): the mean of M_attn over the valid query
       slots (the paper's average pooling); ``score_reduce='max'`` takes
       the maximum instead, as InstanceVG's code does. A logit map,
       supervised by :meth:`loss` (minimap supervision).
    4. **DPS** (:class:`DistScorePointSelector`) picks N_q reference points
       on ``sigmoid(M_s)``; Q_filter are the image tokens at those points.
    5. **ITQ** (:class:`InjectTextQuery`): ``Q_init = MLP([Q_filter; F_q])``.

    Switches for the paper's Table 6 ablation (each overrides the matching
    sub-config):

    - ``use_sts=False``: the selector takes the first N_q positions of the
      sequence, padding included (``rank_by='position'``);
    - ``use_dps=False``: plain top-k on the score map (``mode='topk'``);
    - ``use_itq=False``: ``Q_init = MLP(Q_filter)``, no text injected (the
      cross-attention then only computes the logits, trained by the
      minimap supervision alone).

    ``num_queries`` and ``embed_dims`` are filled into the sub-configs.

    Args:
        embed_dims (int): Channels C of image and text tokens. Defaults to
            256.
        num_queries (int): N_q, the number of queries and points. Defaults
            to 10 (InstanceVG).
        use_sts (bool): Score Text Selector, else first-N positions.
        use_dps (bool): Dist-Score Point Selector, else top-k.
        use_itq (bool): Inject the text queries.
        text_selector (dict): :class:`ScoreTextSelector` config.
        cross_attention (dict): :class:`ScoreMapCrossAttention` config.
        point_selector (dict): :class:`DistScorePointSelector` config.
        query_injector (dict): :class:`InjectTextQuery` config.
        positional_encoding (dict): mmdet ``SinePositionalEncoding`` config
            for the image keys (``num_feats`` defaults to C / 2), as
            InstanceVG's ``x_mask_pos_enc``.
        score_reduce (str): ``'mean'`` (the paper's average pooling) or
            ``'max'`` (InstanceVG's code) over the query slots.
        loss_minimap_bce (dict): Sigmoid BCE on M_s against
            :func:`minimap_targets`.
        loss_minimap_dice (dict): Dice on ``sigmoid(M_s)``.
            InstanceVG weights BCE and dice 1 each, times 0.1; its dice is
            ``1 - (2|p·t| + 1) / (|p| + |t| + 1)`` (mmdet ``naive_dice``,
            ``eps=1``).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_queries: int = 10,
        use_sts: bool = True,
        use_dps: bool = True,
        use_itq: bool = True,
        text_selector: ConfigType = dict(
            type='ScoreTextSelector', rank_by='l2', fill_mode='repeat'
        ),
        cross_attention: ConfigType = dict(
            type='ScoreMapCrossAttention',
            num_heads=8,
            ffn_cfg=dict(feedforward_channels=512, ffn_drop=0.0),
        ),
        point_selector: ConfigType = dict(
            type='DistScorePointSelector',
            dist_weight=0.003,
        ),
        query_injector: ConfigType = dict(
            type='InjectTextQuery', num_layers=3
        ),
        positional_encoding: ConfigType = dict(normalize=True),
        score_reduce: str = 'mean',
        loss_minimap_bce: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.1
        ),
        loss_minimap_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=0.1,
        ),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        assert score_reduce in ('mean', 'max'), score_reduce
        self.embed_dims = embed_dims
        self.num_queries = num_queries
        self.use_sts = use_sts
        self.use_dps = use_dps
        self.use_itq = use_itq
        self.score_reduce = score_reduce

        text_selector = ConfigDict(text_selector)
        text_selector.num_queries = num_queries
        if not use_sts:
            text_selector.rank_by = 'position'
        self.text_selector = MODELS.build(text_selector)

        cross_attention = ConfigDict(cross_attention)
        cross_attention.update(
            embed_dims=embed_dims, with_query_update=use_itq
        )
        self.cross_attention = MODELS.build(cross_attention)

        point_selector = ConfigDict(point_selector)
        point_selector.num_points = num_queries
        if not use_dps:
            point_selector.mode = 'topk'
        self.point_selector = MODELS.build(point_selector)

        query_injector = ConfigDict(query_injector)
        query_injector.update(embed_dims=embed_dims, use_text=use_itq)
        self.query_injector = MODELS.build(query_injector)

        positional_encoding = dict(positional_encoding)
        positional_encoding.setdefault('num_feats', embed_dims // 2)
        self.positional_encoding = SinePositionalEncoding(
            **positional_encoding
        )
        self.loss_minimap_bce = MODELS.build(loss_minimap_bce)
        self.loss_minimap_dice = MODELS.build(loss_minimap_dice)

    def pool_score_map(self, attn_maps: Tensor, valid: Tensor) -> Tensor:
        """M_s from M_attn over the valid query slots.

        Args:
            attn_maps (Tensor): M_attn, shape (B, N, h, w).
            valid (Tensor): Shape (B, N), bool. A sample with no valid slot
                pools over all of them.

        Returns:
            Tensor: M_s, shape (B, h, w).
        """
        valid = valid | ~valid.any(dim=1, keepdim=True)
        if self.score_reduce == 'max':
            masked = attn_maps.masked_fill(
                ~valid[..., None, None], float('-inf')
            )
            return masked.max(dim=1).values
        weight = valid.to(attn_maps.dtype)[..., None, None]
        return (attn_maps * weight).sum(dim=1) / weight.sum(dim=1)

    def forward(
        self,
        img_feats: Tensor,
        text_feats: Tensor,
        text_padding_mask: Optional[Tensor] = None,
        img_padding_mask: Optional[Tensor] = None,
        hw_shape: Optional[Tuple[int, int]] = None,
    ) -> Dict[str, Tensor]:
        """Generate the initial queries and reference points.

        Args:
            img_feats (Tensor): Image tokens F_i, shape (B, C, h, w), or
                (B, h*w, C) with ``hw_shape``.
            text_feats (Tensor): Text tokens F_t, shape (B, L, C).
            text_padding_mask (Tensor, optional): Shape (B, L), True at
                padding tokens.
            img_padding_mask (Tensor, optional): Shape (B, h, w), True at
                padded image cells: not attended, not chosen as points
                while valid cells remain.
            hw_shape (tuple[int, int], optional): (h, w) for flat
                ``img_feats``.

        Returns:
            dict[str, Tensor]:

            - ``queries``: Q_init, shape (B, N_q, C);
            - ``ref_points``: normalised (x, y) pixel centres of the chosen
              cells, shape (B, N_q, 2), no gradient;
            - ``point_indices``: flat cell indices ``row * w + col``,
              shape (B, N_q);
            - ``score_map``: M_s logits, shape (B, h, w);
            - ``attn_maps``: M_attn logits, shape (B, N_q, h, w);
            - ``text_valid``: valid query slots, shape (B, N_q);
            - ``text_indices``: token position per slot, shape (B, N_q).
        """
        if img_feats.dim() == 4:
            bsz, channels, h, w = img_feats.shape
            img_tokens = img_feats.flatten(2).transpose(1, 2)
        else:
            assert hw_shape is not None, 'flat image tokens need hw_shape'
            h, w = hw_shape
            bsz, _, channels = img_feats.shape
            img_tokens = img_feats
        assert img_tokens.shape[1] == h * w

        flat_pad = None
        pos_mask = img_padding_mask
        if pos_mask is None:
            pos_mask = img_tokens.new_zeros((bsz, h, w), dtype=torch.bool)
        key_pos = self.positional_encoding(pos_mask)
        key_pos = key_pos.flatten(2).transpose(1, 2).to(img_tokens)
        if img_padding_mask is not None:
            flat_pad = img_padding_mask.flatten(1).bool()

        selected, valid, text_indices = self.text_selector(
            text_feats, text_padding_mask
        )
        text_queries, attn_logits = self.cross_attention(
            selected, img_tokens, key_pos=key_pos, key_padding_mask=flat_pad
        )
        attn_maps = attn_logits.view(bsz, -1, h, w)
        score_map = self.pool_score_map(attn_maps, valid)

        valid_cells = None
        if img_padding_mask is not None:
            valid_cells = ~img_padding_mask.bool()
        point_indices, ref_points = self.point_selector(score_map, valid_cells)
        point_feats = img_tokens.gather(
            1, point_indices[..., None].expand(-1, -1, channels)
        )
        queries = self.query_injector(point_feats, text_queries)
        return dict(
            queries=queries,
            ref_points=ref_points.to(img_tokens.dtype),
            point_indices=point_indices,
            score_map=score_map,
            attn_maps=attn_maps,
            text_valid=valid,
            text_indices=text_indices,
        )

    def loss(
        self,
        score_map: Tensor,
        batch_data_samples: Sequence[DetDataSample],
    ) -> Dict[str, Tensor]:
        """Minimap supervision of the score map (the paper's Fig. 4: without
        it the points cover fewer targets).

        Args:
            score_map (Tensor): M_s logits from :meth:`forward`, shape
                (B, h, w).
            batch_data_samples (Sequence[DetDataSample]): With the merged
                ground-truth mask (see :func:`minimap_targets`).

        Returns:
            dict[str, Tensor]: ``loss_minimap_bce`` and
            ``loss_minimap_dice``.
        """
        target = minimap_targets(batch_data_samples, score_map.shape[-2:])
        pred, target = score_map.flatten(1), target.to(score_map).flatten(1)
        return dict(
            loss_minimap_bce=self.loss_minimap_bce(pred, target),
            loss_minimap_dice=self.loss_minimap_dice(pred, target),
        )
