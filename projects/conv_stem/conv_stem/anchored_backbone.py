# Copyright (c) mmgres contributors. All rights reserved.
"""RaAM-RVG's anchored ViT with a convolutional stem."""

from mmgres.models.backbones.anchored_backbone import AnchoredVisionBackbone
from mmgres.registry import MODELS

from .layers import ConvStem


@MODELS.register_module()
class ConvStemAnchoredVisionBackbone(AnchoredVisionBackbone):
    """:class:`AnchoredVisionBackbone` over a ViT whose patchify projection
    (``vision.patch_embed.projection``, a p×p convolution of stride p) is
    replaced by a :class:`ConvStem`: log2(p) stride-2 3×3 convolutions with
    the same input and output shapes, so the tokens, stages, anchors and
    head are unchanged.

    For ViTs trained from scratch on the synthetic benchmark; pretrained
    ViT checkpoints have no weights for the stem (their
    ``patch_embed.projection`` keys are left unmatched). Swin has no
    patchify projection of this kind and is refused.

    Args:
        *args: Those of :class:`AnchoredVisionBackbone`.
        **kwargs: Those of :class:`AnchoredVisionBackbone`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.arch != 'vit':
            raise ValueError(
                'ConvStemAnchoredVisionBackbone replaces a ViT patchify '
                f'projection; the wrapped backbone is {self.arch!r}'
            )
        ConvStem.replace_patchify(self.vision.patch_embed, 'projection')
