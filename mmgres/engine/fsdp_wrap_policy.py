# Copyright (c) mmgres contributors. All rights reserved.
"""An FSDP auto-wrap policy that can be written in a config."""

from typing import Sequence

from mmengine.registry import FUNCTIONS
from torch import nn

# The repeated blocks of GSVA's three transformers (HF class names): the
# Llama decoder, the CLIP vision tower and SAM's ViT image encoder.
GSVA_LAYER_NAMES = ('LlamaDecoderLayer', 'CLIPEncoderLayer', 'SamVisionLayer')


@FUNCTIONS.register_module()
def layer_class_name_wrap_policy(
    module: nn.Module,
    recurse: bool,
    nonwrapped_numel: int,
    layer_names: Sequence[str] = GSVA_LAYER_NAMES,
) -> bool:
    """Wrap every module whose class is named in ``layer_names`` in its own
    FSDP unit.

    The same rule as torch's ``transformer_auto_wrap_policy``, keyed by class
    *name*, so that a config can name it without importing the classes:
    ``strategy.model_wrapper.auto_wrap_policy = dict(type=
    'layer_class_name_wrap_policy', layer_names=[...])`` (mmengine's
    ``MMFullyShardedDataParallel`` looks the type up in ``FUNCTIONS`` and
    binds the other keys). FSDP calls it for every module, first with
    ``recurse=True`` (go down into its children?) and then with
    ``recurse=False`` (wrap this one?).

    Args:
        module (nn.Module): The module FSDP asks about.
        recurse (bool): True when FSDP asks whether to visit the children.
        nonwrapped_numel (int): Parameters not yet wrapped below ``module``
            (unused: the decision is by class).
        layer_names (Sequence[str]): Class names of the layers to wrap.
            Defaults to GSVA's transformer blocks.

    Returns:
        bool: Always True with ``recurse``; else whether ``module`` is one
        of the named layers.

    Example:
        >>> layer = nn.TransformerEncoderLayer(8, 2)
        >>> layer_class_name_wrap_policy(
        ...     layer, False, 0, ['TransformerEncoderLayer'])
        True
    """
    if recurse:
        return True
    return type(module).__name__ in set(layer_names)
