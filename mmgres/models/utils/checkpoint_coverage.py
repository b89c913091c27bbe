# Copyright (c) mmgres contributors. All rights reserved.
"""Refuse a checkpoint that fills too little of a grounder.

mmengine loads ``load_from`` checkpoints with ``strict=False``: a checkpoint
of another model, or of another key layout, "loads" with almost nothing
matched and one warning, and the run goes on with a random model.
:class:`~mmgres.models.grounders.BaseGrounder` calls
:func:`check_checkpoint_coverage` when it is the root of a state-dict load,
which covers ``load_from``, ``tools/test.py``, the inferencer's ``weights``
and a ``Pretrained`` ``init_cfg`` of the whole model. A ``Pretrained``
``init_cfg`` of a sub-module (a backbone) loads into that sub-module and is
not checked.
"""

from collections import Counter
from typing import Iterable, List, Mapping, Optional, Tuple

from torch import nn

#: The share of a model's state-dict entries a checkpoint must fill.
MIN_LOAD_RATIO = 0.5

#: How many key prefixes an error lists per side.
_MAX_PREFIXES = 10

_HINT = (
    'If this is an official checkpoint (not written by mmgres), convert it '
    'first with its script in tools/model_converters/. To load it anyway, '
    'allow a partial load: `--allow-partial-load` of tools/train.py and '
    'tools/test.py, `allow_partial_load = True` in the config, '
    '`GroundingInferencer(..., allow_partial_load=True)`, or '
    '`set_allow_partial_load(model=model)` of '
    'mmgres.models.utils.checkpoint_coverage before loading.'
)


class CheckpointMismatchError(RuntimeError):
    """A checkpoint fills too little of the model it is loaded into."""


def _ignored(key: str) -> bool:
    # BN counters are not weights; mmengine ignores them as missing keys
    return key.endswith('num_batches_tracked')


def _shape(value) -> Optional[Tuple[int, ...]]:
    # DeepSpeed ZeRO-3 keeps the full shape of a partitioned parameter in
    # ``ds_shape``; ``shape`` is then empty
    shape = getattr(value, 'ds_shape', None) or getattr(value, 'shape', None)
    return None if shape is None else tuple(shape)


def _frozen(value) -> bool:
    return isinstance(value, nn.Parameter) and not value.requires_grad


def _same_shape(own, given) -> bool:
    # torch also loads a 1-element vector into a 0-dim parameter
    return own == given or (own == () and given == (1,))


def key_prefix(key: str, depth: int = 3) -> str:
    """The module path of a state-dict key, cut to group similar keys.

    The parameter name is dropped, then the path stops before its first
    numeric part (a layer index) and after ``depth`` parts.

    Example:
        >>> key_prefix('head.decoder.layers.3.attn.weight')
        'head.decoder.layers'
        >>> key_prefix('text_encoder.model.embeddings.word.weight')
        'text_encoder.model.embeddings'
        >>> key_prefix('level_embed')
        'level_embed'
    """
    parts = key.split('.')[:-1] or [key]
    kept: List[str] = []
    for part in parts[:depth]:
        if part.isdigit():
            break
        kept.append(part)
    return '.'.join(kept) or parts[0]


def format_prefixes(keys: Iterable[str], limit: int = _MAX_PREFIXES) -> str:
    """``prefix (count)`` of ``keys``, most keys first, at most ``limit``."""
    counts = Counter(key_prefix(k) for k in keys)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ', '.join(f'{p} ({n})' for p, n in ranked[:limit])
    if len(ranked) > limit:
        text += f', and {len(ranked) - limit} more prefixes'
    return text or '-'


def checkpoint_coverage(
    model_state: Mapping, checkpoint_state: Mapping
) -> dict:
    """Match a checkpoint's state dict against a model's.

    Frozen parameters (``requires_grad=False``, in a state dict taken with
    ``keep_vars=True``) are not counted when the model has trainable ones:
    checkpoints of models trained with frozen parts may leave them out
    (DeepSpeed's ``exclude_frozen_parameters``, LoRA fine-tuning), and they
    come from the model's own pretrained weights.

    Args:
        model_state (Mapping): The model's state dict (only the keys, the
            shapes and ``requires_grad`` are read).
        checkpoint_state (Mapping): The state dict to load.

    Returns:
        dict: ``matched``, ``missing`` (model keys absent from the
        checkpoint), ``unexpected`` (checkpoint keys the model lacks) and
        ``mismatched`` (keys of both with different shapes: ``(key,
        model_shape, checkpoint_shape)``), BN ``num_batches_tracked``
        counters and counted-out frozen parameters left out; ``total``, the
        number of model keys counted.
    """
    skip_frozen = any(
        isinstance(v, nn.Parameter) and v.requires_grad
        for v in model_state.values()
    )
    matched, missing, mismatched = [], [], []
    for key, value in model_state.items():
        if _ignored(key) or (skip_frozen and _frozen(value)):
            continue
        if key not in checkpoint_state:
            missing.append(key)
            continue
        own, given = _shape(value), _shape(checkpoint_state[key])
        if _same_shape(own, given):
            matched.append(key)
        else:
            mismatched.append((key, own, given))
    unexpected = [
        k for k in checkpoint_state if k not in model_state and not _ignored(k)
    ]
    return dict(
        matched=matched,
        missing=missing,
        unexpected=unexpected,
        mismatched=mismatched,
        total=len(matched) + len(missing) + len(mismatched),
    )


def check_checkpoint_coverage(
    model: nn.Module,
    checkpoint_state: Mapping,
    min_ratio: float = MIN_LOAD_RATIO,
) -> None:
    """Fail if ``checkpoint_state`` fills less than ``min_ratio`` of the
    state-dict entries of ``model`` (by count; an entry of another shape is
    not filled; frozen parameters are not counted, see
    :func:`checkpoint_coverage`).

    Args:
        model (nn.Module): The model about to be loaded.
        checkpoint_state (Mapping): The state dict it is loaded from, with
            the keys as the model names them (mmengine has already stripped
            ``module.`` and applied ``revise_keys``).
        min_ratio (float): The share of entries that must be filled.

    Raises:
        CheckpointMismatchError: Too few entries are filled. The message
            names the model's unfilled key prefixes and the checkpoint's
            unused ones, with counts, and how to go on.
    """
    cov = checkpoint_coverage(
        model.state_dict(keep_vars=True), checkpoint_state
    )
    total, filled = cov['total'], len(cov['matched'])
    if total == 0 or filled >= min_ratio * total:
        return
    mismatched = cov['mismatched']
    unfilled = cov['missing'] + [k for k, _, _ in mismatched]
    unused = cov['unexpected'] + [k for k, _, _ in mismatched]
    lines = [
        f'The checkpoint fills {filled} of the {total} state-dict entries '
        f'of {type(model).__name__} ({100 * filled / total:.1f}%, fewer '
        f'than {100 * min_ratio:.0f}%; frozen parameters not counted): is '
        'it a checkpoint of another model, or with another key layout?',
        f'Model entries it does not fill ({len(unfilled)}), by prefix: '
        f'{format_prefixes(unfilled)}.',
        f'Checkpoint entries the model does not use ({len(unused)}), by '
        f'prefix: {format_prefixes(unused)}.',
    ]
    if mismatched:
        shown = '; '.join(
            f'{k}: model {a}, checkpoint {b}' for k, a, b in mismatched[:3]
        )
        more = (
            f'; and {len(mismatched) - 3} more' if len(mismatched) > 3 else ''
        )
        lines.append(
            f'Entries of another shape ({len(mismatched)}): {shown}{more}.'
        )
    lines.append(_HINT)
    raise CheckpointMismatchError('\n'.join(lines))


def set_allow_partial_load(
    allow: bool = True, model: Optional[nn.Module] = None
) -> None:
    """Let checkpoints that fill only part of a grounder load (or not).

    Args:
        allow (bool): Whether partial loads are allowed.
        model (nn.Module, optional): Set it for the grounders in this model
            only (it may be wrapped: DDP, a test-time augmentation model).
            Defaults to None: the default of every grounder of the process,
            including those built later (what the tools' ``--allow-partial-
            load`` does, before the runner builds the model).
    """
    from mmgres.models.grounders.base_grounder import BaseGrounder

    if model is None:
        BaseGrounder.allow_partial_load = bool(allow)
        return
    for module in model.modules():
        if isinstance(module, BaseGrounder):
            module.allow_partial_load = bool(allow)
