# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's mask head with a dense SAM prompt from ψ."""

from mmdet.models.layers import MLP
from torch import Tensor

from mmgres.models.heads.gsva_mask_head import GSVAMaskHead
from mmgres.registry import MODELS


@MODELS.register_module()
class DensePromptMaskHead(GSVAMaskHead):
    """:class:`GSVAMaskHead` whose ψ also gives SAM a dense prompt.

    ψ outputs 2C values per ``[SEG]``: the sparse prompt token (C, as the
    paper) and a dense prompt vector (C) that SAM adds to its "no mask"
    dense embedding at every cell of the image embedding, where SAM puts a
    mask prompt. The image tokens thus carry the expression before the
    two-way transformer reads them. Ours, for tiny SAMs trained from
    scratch: on the synthetic benchmark it lifts a bag-of-words probe's
    single-target IoU from 0.30 to 0.44 in 2,000 iterations (../README.md).

    Args:
        **kwargs: Those of :class:`GSVAMaskHead`.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        c = self.segmentor.prompt_channels
        self.proj = MLP(self.in_channels, self.in_channels, 2 * c, 2)

    def decode(self, image_embedding: Tensor, prompts: Tensor) -> Tensor:
        """Masks (K, 4h, 4w) of ψ's outputs (K, 2C) on one image: SAM
        decodes each with its sparse token and its dense prompt.

        Each mask has its own dense embedding, so the image is repeated
        per prompt (SAM's decoder repeats it per prompt anyway).
        """
        sam = self.segmentor.model
        c = self.segmentor.prompt_channels
        k = len(prompts)
        sparse, dense = prompts[:, :c], prompts[:, c:]
        decoder = sam.mask_decoder
        dtype = decoder.iou_token.weight.dtype
        if image_embedding.dim() == 3:
            image_embedding = image_embedding[None]
        h, w = image_embedding.shape[-2:]
        no_mask = sam.prompt_encoder.no_mask_embed.weight.reshape(1, c, 1, 1)
        positional = sam.get_image_wide_positional_embeddings()
        masks, _ = decoder(
            image_embeddings=image_embedding.expand(k, -1, -1, -1).to(dtype),
            image_positional_embeddings=positional.expand(k, -1, -1, -1).to(
                dtype
            ),
            # K images of one prompt of one token each
            sparse_prompt_embeddings=sparse[:, None, None].to(dtype),
            dense_prompt_embeddings=(no_mask + dense[:, :, None, None])
            .expand(k, -1, h, w)
            .to(dtype),
            multimask_output=False,
        )
        # (K, 1, 1, 4h, 4w) -> (K, 4h, 4w)
        return masks[:, 0, 0]
