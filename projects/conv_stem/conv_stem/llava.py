# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's LLaVA with a convolutional stem in its CLIP tower."""

from mmgres.models.mllm import LlavaMLLM
from mmgres.registry import MODELS

from .layers import ConvStem


@MODELS.register_module()
class ConvStemLlavaMLLM(LlavaMLLM):
    """:class:`LlavaMLLM` whose CLIP tower's patchify projection
    (``embeddings.patch_embedding``, a p×p convolution of stride p) is
    replaced by a :class:`ConvStem` with the same input and output shapes,
    so the visual tokens are unchanged.

    The stem trains when the projection it replaces would
    (``trainable_modules``). For towers trained from scratch; a pretrained
    CLIP has no weights for the stem.

    Args:
        *args: Those of :class:`LlavaMLLM`.
        **kwargs: Those of :class:`LlavaMLLM`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        embeddings = self.model.model.vision_tower.get_input_embeddings()
        parent = next(
            (
                m
                for m in self.model.model.vision_tower.modules()
                if getattr(m, 'patch_embedding', None) is embeddings
            ),
            None,
        )
        if parent is None:
            raise ValueError(
                'ConvStemLlavaMLLM: the vision tower has no '
                'embeddings.patch_embedding convolution to replace.'
            )
        trained = embeddings.weight.requires_grad
        stem = ConvStem.replace_patchify(parent, 'patch_embedding')
        stem.requires_grad_(trained)
