# Copyright (c) mmgres contributors. All rights reserved.
"""Read the fields of the data-sample contract, from either form.

Metrics receive ``DetDataSample``s, or (through mmengine's ``Evaluator``)
their ``.to_dict()``: nested dicts in which the metainfo keys sit at the top
level next to the data fields. Every reader here accepts both, and tensors
or numpy arrays anywhere.
"""

from typing import Any, Optional

import numpy as np

from ..functional.mask_ops import merge_masks, to_bool_mask

#: A grounder that predicts "no target" empties ``pred_sem_seg`` and
#: ``pred_instances`` and keeps its own prediction under these names. The
#: official rules score the model's own mask and boxes (ReLA keeps the
#: predicted mask in the union of a target sample predicted "no target";
#: the ``'score'`` and ``'empty_mask'`` rules and GREC decide from them),
#: so the metrics read these where a sample has them.
RAW_PRED_FIELDS = {
    'pred_sem_seg': 'pred_sem_seg_raw',
    'pred_instances': 'pred_instances_raw',
}


def get_field(sample: Any, path: str, default: Any = None) -> Any:
    """Look up a dotted path such as ``'pred_instances.scores'``.

    Works on dicts and on mmengine data elements (``DetDataSample``,
    ``InstanceData``, ``PixelData``) alike. A path under ``pred_sem_seg``
    or ``pred_instances`` reads the model's own prediction
    (:data:`RAW_PRED_FIELDS`) when the sample has it.

    Args:
        sample: A data sample or a dict.
        path (str): Keys separated by dots.
        default: Returned when a key along the path is missing or None.

    Returns:
        The value, or ``default``.
    """
    head, _, rest = path.partition('.')
    raw = RAW_PRED_FIELDS.get(head)
    if raw is not None and _lookup(sample, raw) is not None:
        path = f'{raw}.{rest}' if rest else raw
    value = _lookup(sample, path)
    return default if value is None else value


def _lookup(sample: Any, path: str) -> Any:
    """The value at a dotted path, or None."""
    node = sample
    for key in path.split('.'):
        if isinstance(node, dict):
            node = node.get(key)
        else:
            node = getattr(node, key, None)
        if node is None:
            return None
    return node


def sample_name(sample: Any) -> str:
    """A short description of a sample for error messages."""
    parts = []
    for key in ('img_id', 'ref_id', 'sent_id', 'img_path'):
        value = get_field(sample, key)
        if value is not None:
            parts.append(f'{key}={value}')
    return ', '.join(parts) if parts else '<sample without ids>'


def require_field(sample: Any, path: str, owner: str, hint: str = '') -> Any:
    """Like :func:`get_field`, but raise a clear error when it is missing.

    Args:
        sample: A data sample or a dict.
        path (str): Dotted path.
        owner (str): Who needs it (the metric's name), for the message.
        hint (str): Appended to the message.

    Raises:
        KeyError: Naming the sample, the field and the owner.
    """
    value = get_field(sample, path)
    if value is None:
        msg = f'{owner}: the sample ({sample_name(sample)}) has no `{path}`.'
        raise KeyError(f'{msg} {hint}'.strip())
    return value


def read_gt_no_target(sample: Any, owner: str) -> bool:
    """The ground-truth ``no_target`` flag of the metainfo."""
    value = require_field(
        sample,
        'no_target',
        owner,
        'The dataset must put `no_target` in the metainfo.',
    )
    return bool(value)


def read_gt_mask(
    sample: Any, owner: str, allow_missing: bool = False
) -> Optional[np.ndarray]:
    """The ground-truth merged mask, shape (H, W), bool.

    Read from ``gt_sem_seg.data`` (1×H×W), else as the union of
    ``gt_instances.masks``.

    Args:
        sample: A data sample or a dict.
        owner (str): The metric's name, for error messages.
        allow_missing (bool): Return None instead of raising when neither
            field is present (a no-target sample needs no mask).
    """
    data = get_field(sample, 'gt_sem_seg.data')
    if data is not None:
        return to_bool_mask(data)
    masks = get_field(sample, 'gt_instances.masks')
    if masks is not None:
        return merge_masks(masks)
    if allow_missing:
        return None
    raise KeyError(
        f'{owner}: the sample ({sample_name(sample)}) has neither '
        '`gt_sem_seg.data` nor `gt_instances.masks`; the test '
        'pipeline must load the annotations.'
    )


def read_pred_mask(sample: Any, owner: str) -> np.ndarray:
    """The predicted merged mask, shape (H, W), bool.

    Read from ``pred_sem_seg.data``, else as the union of
    ``pred_instances.masks`` (the instances the model kept).
    """
    data = get_field(sample, 'pred_sem_seg.data')
    if data is not None:
        return to_bool_mask(data)
    masks = get_field(sample, 'pred_instances.masks')
    if masks is not None:
        return merge_masks(masks)
    raise KeyError(
        f'{owner}: the sample ({sample_name(sample)}) has neither '
        '`pred_sem_seg.data` nor `pred_instances.masks`.'
    )
