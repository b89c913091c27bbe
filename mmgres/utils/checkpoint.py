# Copyright (c) mmgres contributors. All rights reserved.
"""Loading mmengine checkpoints under torch>=2.6 safe loading.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine
0.10.7 calls ``torch.load`` without ``weights_only``, so its own checkpoints,
which pickle the :class:`~mmengine.logging.HistoryBuffer` objects of the
message hub and numpy arrays/scalars, fail to load with an ``UnpicklingError``.

Safe loading stays on. We allow-list exactly what mmengine stores:

* ``HistoryBuffer``, numpy arrays, dtypes and scalars;
* ``builtins.getattr`` mapped to :func:`_restricted_getattr`, which resolves
  only ``HistoryBuffer.<statistics method>``: the buffer pickles its
  ``_statistics_methods`` dict as ``getattr(HistoryBuffer, 'mean')``.

We also replace mmengine's loader for local paths, so that a missing or
corrupt checkpoint fails with an error that names the file.
"""

import os
import os.path as osp
import pickle
from typing import Any, Callable, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

_ALLOWED_GETATTR = {
    HistoryBuffer: frozenset(['min', 'max', 'current', 'mean']),
}


def _restricted_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside safe unpickling.

    Only ``getattr(HistoryBuffer, <statistics method>)`` is resolved; any
    other attribute access raises :class:`pickle.UnpicklingError`.
    """
    allowed = _ALLOWED_GETATTR.get(obj)
    if allowed is None or name not in allowed:
        raise pickle.UnpicklingError(
            f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint '
            "with weights_only=True: it is not in mmgres' allow-list."
        )
    return getattr(obj, name)


def register_safe_getattr(cls: type, names) -> None:
    """Allow ``getattr(cls, name)`` for ``name in names`` during safe loading.

    Use it for a custom ``HistoryBuffer`` statistics method registered with
    :meth:`HistoryBuffer.register_statistics`.
    """
    _ALLOWED_GETATTR[cls] = frozenset(_ALLOWED_GETATTR.get(cls, ())) | set(
        names
    )


def _numpy_globals() -> list:
    multiarray = np._core.multiarray  # numpy>=2
    safe = [
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        # checkpoints written under numpy<2 name the old module path
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ]
    safe += [
        getattr(np.dtypes, name)
        for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    return safe


_SETUP_DONE = False


def setup_safe_checkpoint_loading() -> None:
    """Allow-list mmengine's checkpoint contents and install a local loader
    with clear errors. Idempotent; called when :mod:`mmgres` is imported."""
    global _SETUP_DONE
    if _SETUP_DONE:
        return
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(
            [
                HistoryBuffer,
                *_numpy_globals(),
                (_restricted_getattr, 'builtins.getattr'),
                (_restricted_getattr, '__builtin__.getattr'),
            ]
        )
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True
    )
    _SETUP_DONE = True


def load_local_checkpoint(
    filename: str, map_location: Optional[Any] = None
) -> dict:
    """Load a local checkpoint with safe loading, naming the file on error.

    Registered with mmengine's :class:`CheckpointLoader` for plain paths, so
    ``load_from``, ``resume`` and ``init_cfg=dict(type='Pretrained')`` all go
    through it.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        RuntimeError: the file exists but is not a readable checkpoint. The
            message lists the other checkpoints in the same folder, which are
            left untouched.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint file not found: {filename}')
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True
        )
    except pickle.UnpicklingError as e:
        msg = str(e)
        if any(
            k in msg
            for k in (
                'Unsupported global',
                'allow-list',
                'unrecognized function',
            )
        ):
            raise RuntimeError(
                f'Checkpoint {filename} holds objects outside the safe '
                'loading '
                f'allow-list of mmgres.utils.checkpoint: {_short(e)}'
            ) from e
        raise _corrupt_error(filename, e) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise _corrupt_error(filename, e) from e


def _short(err: Exception) -> str:
    """The useful part of torch's long safe-loading messages."""
    msg = str(err)
    if 'WeightsUnpickler error:' in msg:
        msg = msg.split('WeightsUnpickler error:')[1]
        msg = msg.split('Check the documentation')[0]
    return ' '.join(msg.split())[:300]


def _corrupt_error(filename: str, err: Exception) -> RuntimeError:
    folder = osp.dirname(osp.abspath(filename))
    others = sorted(
        f
        for f in os.listdir(folder)
        if f.endswith('.pth') and f != osp.basename(filename)
    )
    hint = (
        f' Other checkpoints in {folder}, left untouched: '
        f'{", ".join(others)}; resume from one with `--resume PATH`.'
        if others
        else ''
    )
    return RuntimeError(
        f'Checkpoint {filename} is corrupt or not a checkpoint '
        f'({type(err).__name__}: {_short(err)}).{hint}'
    )


def check_checkpoint_path(path: Optional[str], what: str) -> None:
    """Fail early, before a runner is built, if a local ``path`` is missing.

    URLs and other remote schemes are left to mmengine.
    """
    if (
        not path
        or '://' in str(path)
        or str(path).startswith(('open-mmlab:', 'mmcls:', 'torchvision:'))
    ):
        return
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'{what} checkpoint not found: {path}')


LoaderFn = Callable[[str, Optional[Any]], dict]
