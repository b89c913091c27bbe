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
corrupt checkpoint fails with an error that names the file and the newest
intact earlier checkpoint beside it.
"""

import logging
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, Callable, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
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
        raise _corrupt_error(filename, _describe(e)) from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise _corrupt_error(filename, _describe(e)) from e


def _short(err: Exception) -> str:
    """The useful part of torch's long safe-loading messages."""
    msg = str(err)
    if 'WeightsUnpickler error:' in msg:
        msg = msg.split('WeightsUnpickler error:')[1]
        msg = msg.split('Check the documentation')[0]
    return ' '.join(msg.split())[:300]


def _describe(err: Exception) -> str:
    return f'{type(err).__name__}: {_short(err)}'


def _corrupt_error(filename: str, reason: str) -> Exception:
    folder = osp.dirname(osp.abspath(filename))
    others = sorted(
        f
        for f in (os.listdir(folder) if osp.isdir(folder) else [])
        if f.endswith('.pth') and f != osp.basename(filename)
    )
    intact = find_intact_checkpoint(filename) if others else None
    hint = ''
    if intact is not None:
        hint = (
            f' The newest intact earlier checkpoint is {intact}: resume '
            f'from it with `--resume {intact}`, or let tools/train.py do so '
            'with `--resume-fallback`.'
        )
    elif others:
        hint = ' No earlier epoch_N.pth or iter_N.pth beside it loads.'
    if others:
        hint += (
            f' Other checkpoints in {folder}, left untouched: '
            f'{", ".join(others)}.'
        )
    if reason == _MISSING:
        return FileNotFoundError(
            f'Checkpoint file not found: {filename}.{hint}'
        )
    return RuntimeError(
        f'Checkpoint {filename} is corrupt or not a checkpoint '
        f'({reason}).{hint}'
    )


_SAVED_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
_MISSING = 'file not found'


def checkpoint_problem(filename: str) -> Optional[str]:
    """Why ``filename`` cannot be loaded as a checkpoint; None if it can.

    The file is loaded as resuming loads it (safe unpickling, mmgres'
    allow-list), but with its tensors memory-mapped: for torch's zip format
    this checks the zip central directory, which a truncated file has lost,
    every record the pickle refers to, and the pickle itself, without
    reading the tensor data into memory. A file in torch's legacy format is
    loaded in full.

    A directory (e.g. a DeepSpeed checkpoint) is not checked: None.
    """
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        return None
    if not osp.isfile(filename):
        return _MISSING
    try:
        torch.load(
            filename,
            map_location='cpu',
            weights_only=True,
            mmap=zipfile.is_zipfile(filename),
        )
    except Exception as e:
        return _describe(e)
    return None


def find_intact_checkpoint(filename: str) -> Optional[str]:
    """The newest checkpoint saved before ``filename`` beside it that loads.

    For an mmengine checkpoint name (``epoch_N.pth``, ``iter_N.pth``) the
    candidates are the same kind with a smaller N, newest first; for any
    other name, every ``epoch_N.pth`` and ``iter_N.pth`` of the folder,
    most recently modified first. Each candidate is checked with
    :func:`checkpoint_problem` until one passes.

    Returns:
        str | None: Its path, or None if no candidate loads.
    """
    folder = osp.dirname(osp.abspath(osp.expanduser(filename)))
    if not osp.isdir(folder):
        return None
    name = osp.basename(filename)
    own = _SAVED_NAME.match(name)
    candidates = []
    for f in os.listdir(folder):
        match = _SAVED_NAME.match(f)
        path = osp.join(folder, f)
        if match is None or f == name or not osp.isfile(path):
            continue
        if own is None:
            candidates.append((osp.getmtime(path), path))
        elif match.group(1) == own.group(1) and int(match.group(2)) < int(
            own.group(2)
        ):
            candidates.append((int(match.group(2)), path))
    for _, path in sorted(candidates, reverse=True):
        if checkpoint_problem(path) is None:
            return path
    return None


def resolve_resume_checkpoint(filename: str, fallback: bool = False) -> str:
    """Check the checkpoint to resume from before a runner is built.

    Args:
        filename (str): The checkpoint to resume from.
        fallback (bool): If it cannot be loaded, resume from the newest
            intact earlier checkpoint beside it instead (see
            :func:`find_intact_checkpoint`), with a warning naming both.
            Defaults to False.

    Returns:
        str: ``filename``, or the checkpoint it falls back to. No file is
        changed, moved or removed. URLs and other remote schemes are
        returned unchecked.

    Raises:
        FileNotFoundError | RuntimeError: ``filename`` is missing or cannot
            be loaded, and ``fallback`` is False or no earlier checkpoint
            loads. The message names the newest intact earlier checkpoint,
            if any.
    """
    problem = checkpoint_problem(filename) if _is_local(filename) else None
    if problem is None:
        return filename
    intact = find_intact_checkpoint(filename) if fallback else None
    if intact is None:
        raise _corrupt_error(filename, problem)
    print_log(
        f'Cannot resume from {filename} ({problem}). Resuming from '
        f'{intact}, the newest intact earlier checkpoint, instead. '
        f'{filename} is left as it is until training saves that point '
        'again.',
        logger='current',
        level=logging.WARNING,
    )
    return intact


def _is_local(path: str) -> bool:
    return '://' not in str(path) and not str(path).startswith(
        ('open-mmlab:', 'mmcls:', 'torchvision:')
    )


def check_checkpoint_path(path: Optional[str], what: str) -> None:
    """Fail early, before a runner is built, if a local ``path`` is missing.

    URLs and other remote schemes are left to mmengine.
    """
    if not path or not _is_local(path):
        return
    if not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'{what} checkpoint not found: {path}')


LoaderFn = Callable[[str, Optional[Any]], dict]
