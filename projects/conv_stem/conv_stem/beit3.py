# Copyright (c) mmgres contributors. All rights reserved.
"""BEiT-3 with a convolutional stem in place of its patchify projection."""

from typing import Optional

from mmgres.models.backbones import BEiT3
from mmgres.registry import MODELS
from mmgres.utils import ConfigType
from projects.conv_stem.conv_stem.layers import ConvStem


@MODELS.register_module()
class ConvStemBEiT3(BEiT3):
    """:class:`~mmgres.models.backbones.BEiT3` whose patchify projection
    ``beit3.vision_embed.proj`` (a ``patch_size`` × ``patch_size``
    convolution) is a :class:`ConvStem`: ``log2(patch_size)`` stride-2 3×3
    convolutions giving the same token grid.

    For models trained from scratch (Xiao et al., "Early Convolutions Help
    Transformers See Better", 2021). An official BEiT-3 checkpoint loads
    everything but the projection it replaces: its ``proj.weight`` and
    ``proj.bias`` are reported as unexpected keys, the stem's weights as
    missing ones.

    Args:
        stem_cfg (dict, optional): ``min_channels``, ``norm_cfg`` and
            ``act_cfg`` of the :class:`ConvStem`. Defaults to its own.
        **kwargs: :class:`~mmgres.models.backbones.BEiT3`'s arguments.
    """

    def __init__(self, stem_cfg: Optional[ConfigType] = None, **kwargs):
        super().__init__(**kwargs)
        ConvStem.replace_patchify(
            self.beit3.vision_embed, 'proj', **dict(stem_cfg or {})
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + ', conv_stem=True'
