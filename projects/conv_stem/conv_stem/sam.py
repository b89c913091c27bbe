# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's SAM with a convolutional stem in its image encoder."""

from mmgres.models.segmentors import HFSamSegmentor
from mmgres.registry import MODELS

from .layers import ConvStem


@MODELS.register_module()
class ConvStemHFSamSegmentor(HFSamSegmentor):
    """:class:`HFSamSegmentor` whose image encoder's patchify projection
    (``vision_encoder.patch_embed.projection``, a p×p convolution of
    stride p) is replaced by a :class:`ConvStem` with the same input and
    output shapes, so the image embedding's grid is unchanged.

    The stem is frozen with the image encoder (``freeze_image_encoder``)
    and trains otherwise. For encoders trained from scratch; a pretrained
    SAM has no weights for the stem.

    Args:
        *args: Those of :class:`HFSamSegmentor`.
        **kwargs: Those of :class:`HFSamSegmentor`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        stem = ConvStem.replace_patchify(
            self.model.vision_encoder.patch_embed, 'projection'
        )
        stem.requires_grad_(not self.freeze_image_encoder)
