# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's bridge: [SEG] hidden states → SAM prompts → one mask each."""

from typing import Dict, List, Sequence, Tuple

import torch
from mmdet.models.layers import MLP
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class GSVAMaskHead(BaseModule):
    """Decode one mask per ``[SEG]`` token with SAM (paper Eq. 4-6).

    The MLLM's output hidden state of each ``[SEG]`` slot goes through the
    projector ψ (paper Eq. 4; Linear–ReLU–Linear, d → d → C, as LISA/GSVA's
    ``text_hidden_fcs``) to a SAM sparse prompt embedding ``h_seg`` of width
    C (256 for SAM); SAM's mask decoder gives one mask from it (Eq. 6,
    ``multimask_output=False``). ``[REJ]`` slots are never given to this
    head: their masks are empty by definition. :meth:`decode` (ψ's outputs
    of one image to masks) is the hook a subclass overrides to prompt SAM
    differently.

    Losses, on the masks at the image-content resolution (paper Eq. 7 with
    LISA's weights): ``loss_mask`` = 2.0 · BCE (per-pixel mean) and
    ``loss_dice`` = 0.5 · Dice, each averaged over the decoded masks. The
    Dice is LISA's ``1 - (2·Σpt + ε)/(Σp + Σt + ε)``; LISA writes it with the
    sums divided by 1000 and ε = 1e-6, which is ε = 1e-3 on plain sums, so
    mmdet's ``DiceLoss(naive_dice=True, eps=1e-3)`` is exactly it. GSVA
    divides by all masks of a dialogue, ``[REJ]`` ones included (whose zero
    logits add constants without gradient); we average over the decoded
    masks only (ours).

    Args:
        segmentor (dict): Config of the SAM wrapper
            (:class:`HFSamSegmentor`).
        in_channels (int): Width of the MLLM hidden states (4096 for 7B),
            also ψ's hidden width.
        loss_mask (dict): BCE config. Defaults to mmdet's sigmoid
            ``CrossEntropyLoss`` with weight 2.0.
        loss_dice (dict): Dice config. Defaults to weight 0.5.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(
        self,
        segmentor: ConfigType,
        in_channels: int = 4096,
        loss_mask: ConfigType = dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=2.0
        ),
        loss_dice: ConfigType = dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1e-3,
            loss_weight=0.5,
        ),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.segmentor = MODELS.build(segmentor)
        self.in_channels = in_channels
        # ψ: the segmentation query projector
        self.proj = MLP(
            in_channels, in_channels, self.segmentor.prompt_channels, 2
        )
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    def encode_images(
        self, images: Tensor, img_shapes: Sequence[Tuple[int, int]]
    ) -> Dict[str, object]:
        """SAM image embeddings of RGB images in 0-255.

        Returns:
            dict: ``embeddings`` (N, C, h, w) and ``input_sizes`` (the
            resized content size of each image in SAM's input).
        """
        pixels, sizes = self.segmentor.preprocess(images, img_shapes)
        return dict(
            embeddings=self.segmentor.encode(pixels), input_sizes=sizes
        )

    def forward(
        self, seg_states: Tensor, image_index: Tensor, image_feats: dict
    ) -> Tensor:
        """Low-resolution mask logits of K ``[SEG]`` slots.

        Args:
            seg_states (Tensor): Shape (K, D), the MLLM hidden states.
            image_index (Tensor): Shape (K,), the image of each slot (index
                into ``image_feats['embeddings']``).
            image_feats (dict): Output of :meth:`encode_images`.

        Returns:
            Tensor: Shape (K, 4h, 4w), SAM's low-resolution logits.
        """
        emb = image_feats['embeddings']
        prompts = self.proj(seg_states.to(self.proj.layers[0].weight.dtype))
        h, w = emb.shape[-2:]
        out = prompts.new_zeros((len(prompts), 4 * h, 4 * w))
        for j in torch.unique(image_index).tolist():
            sel = torch.nonzero(image_index == j).squeeze(1)
            out[sel] = self.decode(emb[j], prompts[sel]).to(out.dtype)
        return out

    def decode(self, image_embedding: Tensor, prompts: Tensor) -> Tensor:
        """Masks of ψ's outputs on one image: SAM decodes each as a sparse
        prompt of one token.

        Args:
            image_embedding (Tensor): Shape (C, h, w).
            prompts (Tensor): Shape (K, P), ψ's outputs (P = C here).

        Returns:
            Tensor: Shape (K, 4h, 4w), low-resolution mask logits.
        """
        return self.segmentor.decode(image_embedding, prompts)

    def to_image(
        self,
        low_res: Tensor,
        image_index: Tensor,
        image_feats: dict,
        out_sizes: Sequence[Tuple[int, int]],
    ) -> List[Tensor]:
        """Per slot, logits (H_k, W_k) over its image's content resized to
        ``out_sizes[k]``."""
        sizes = image_feats['input_sizes']
        return [
            self.segmentor.postprocess(
                low_res[k : k + 1], sizes[int(image_index[k])], out_sizes[k]
            )[0]
            for k in range(len(low_res))
        ]

    def predict(
        self,
        seg_states: Tensor,
        image_index: Tensor,
        image_feats: dict,
        out_sizes: Sequence[Tuple[int, int]],
    ) -> List[Tensor]:
        """Mask logits (H_k, W_k) of each ``[SEG]`` slot."""
        low = self(seg_states, image_index, image_feats)
        return self.to_image(low, image_index, image_feats, out_sizes)

    def loss(
        self,
        seg_states: Tensor,
        image_index: Tensor,
        image_feats: dict,
        gt_masks: Sequence[Tensor],
    ) -> Dict[str, Tensor]:
        """BCE and Dice of the slots' masks against their ground truth.

        Args:
            seg_states (Tensor): Shape (K, D).
            image_index (Tensor): Shape (K,).
            image_feats (dict): Output of :meth:`encode_images`.
            gt_masks (Sequence[Tensor]): K binary masks (H_k, W_k), each in
                its image's content frame; the predictions are resized to
                them.

        Returns:
            dict: ``loss_mask`` and ``loss_dice``; zeros that still reach
            every trainable parameter (for DDP/ZeRO) when K = 0.
        """
        if len(seg_states) != len(gt_masks):
            raise ValueError(
                f'{len(seg_states)} [SEG] states, {len(gt_masks)} masks.'
            )
        if len(gt_masks) == 0:
            zero = sum(p.sum() for p in self.parameters() if p.requires_grad)
            zero = zero * 0.0
            return dict(loss_mask=zero, loss_dice=zero)
        sizes = [tuple(m.shape[-2:]) for m in gt_masks]
        preds = self.predict(seg_states, image_index, image_feats, sizes)
        n = len(preds)
        loss_mask = sum(
            self.loss_mask(p.flatten()[None], g.flatten()[None].float())
            for p, g in zip(preds, gt_masks)
        )
        loss_dice = sum(
            self.loss_dice(p[None], g[None].float())
            for p, g in zip(preds, gt_masks)
        )
        return dict(loss_mask=loss_mask / n, loss_dice=loss_dice / n)
