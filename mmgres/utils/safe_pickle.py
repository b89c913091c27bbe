# Copyright (c) mmgres contributors. All rights reserved.
"""Unpickling data files without running code.

A pickle can name any importable callable and call it while it loads (a
``__reduce__`` that returns ``(os.system, ('...',))``). The pickles mmgres
reads hold data only, so they are read by :class:`RestrictedUnpickler`,
which resolves only the globals of an allow-list and refuses anything else
before it is called:

- refs files (``refs(unc).p``, ``refs(final).p``): :func:`refs_globals`;
- the predictions of ``tools/test.py --out`` (mmengine's ``DumpResults``):
  :func:`prediction_globals`.

Dicts, lists, tuples, strings, numbers, booleans and ``None`` need no
global at all.
"""

import io
import pickle
import pickletools
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    'ForbiddenGlobalError',
    'RestrictedUnpickler',
    'restricted_load',
    'refs_globals',
    'prediction_globals',
]

Globals = Dict[Tuple[str, str], Any]


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle references a global outside the allow-list."""


class _RefusedStorage(pickle.UnpicklingError):
    """Raised inside :func:`_safe_load_from_bytes`, which does not know the
    file; :class:`RestrictedUnpickler` adds it."""


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only allow-listed globals.

    Args:
        file: A binary file object.
        allowed (dict): ``{(module, name): object}``; ``object`` is what the
            pickle gets for ``module.name`` (it may be a safer stand-in).
        source (str): The file's name, for error messages.
        what (str): What the file is, e.g. ``'refs file'``.
        **kwargs: ``encoding``, ``errors`` of :class:`pickle.Unpickler`.
    """

    def __init__(
        self,
        file,
        allowed: Globals,
        source: str = '<pickle>',
        what: str = 'pickle',
        **kwargs,
    ) -> None:
        super().__init__(file, **kwargs)
        self.allowed = allowed
        self.source = source
        self.what = what

    def _refuse(self, thing: str) -> ForbiddenGlobalError:
        return ForbiddenGlobalError(
            f'{self.source}: refusing to load {thing}; a {self.what} holds '
            'data only, and unpickling a global can run code. Nothing from '
            'the file was executed.'
        )

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise self._refuse(f'the global {module}.{name}') from None

    def load(self) -> Any:
        try:
            return super().load()
        except _RefusedStorage as e:
            raise self._refuse(str(e)) from e


def restricted_load(
    file,
    allowed: Globals,
    source: Optional[str] = None,
    what: str = 'pickle',
    encoding: str = 'ASCII',
) -> Any:
    """Load one pickle from a path, bytes or a binary file object with
    :class:`RestrictedUnpickler`.

    Raises:
        ForbiddenGlobalError: The pickle references a global that is not
            in ``allowed``; the message names the file and the global.
    """
    if isinstance(file, (bytes, bytearray)):
        return RestrictedUnpickler(
            io.BytesIO(file),
            allowed,
            source or '<bytes>',
            what,
            encoding=encoding,
        ).load()
    if isinstance(file, str):
        with open(file, 'rb') as f:
            return RestrictedUnpickler(
                f, allowed, source or file, what, encoding=encoding
            ).load()
    name = source or getattr(file, 'name', '<pickle>')
    return RestrictedUnpickler(
        file, allowed, name, what, encoding=encoding
    ).load()


def _latin1_encode(text: str, encoding: str = 'utf-8') -> bytes:
    """``_codecs.encode`` as pickle protocols 0-2 use it for ``bytes``
    (``encode(text, 'latin1')``), and nothing else."""
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise pickle.UnpicklingError(
            f'refusing _codecs.encode({type(text).__name__}, {encoding!r}); '
            "pickled bytes use encode(str, 'latin1')"
        )
    return text.encode('latin1')


def _basic_globals() -> Globals:
    allowed: Globals = {}
    for cls in (bytes, bytearray, set, frozenset, complex):
        # Python 3 and Python 2 names
        allowed[('builtins', cls.__name__)] = cls
        allowed[('__builtin__', cls.__name__)] = cls
    allowed[('_codecs', 'encode')] = _latin1_encode
    return allowed


def _numpy_globals() -> Globals:
    import numpy as np

    multiarray = np._core.multiarray  # numpy>=2
    allowed: Globals = {}
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        allowed[(module, '_reconstruct')] = multiarray._reconstruct
        allowed[(module, 'scalar')] = multiarray.scalar
    # protocol 5 pickles arrays as _frombuffer(buffer, dtype, shape, order)
    for module in ('numpy._core.numeric', 'numpy.core.numeric'):
        allowed[(module, '_frombuffer')] = np._core.numeric._frombuffer
    allowed[('numpy', 'ndarray')] = np.ndarray
    allowed[('numpy', 'dtype')] = np.dtype
    for name in dir(np.dtypes):
        if name.endswith('DType'):
            allowed[('numpy.dtypes', name)] = getattr(np.dtypes, name)
    return allowed


def refs_globals() -> Globals:
    """What a refs file may reference.

    The official refs pickles are lists of dicts of strings, numbers and
    lists, which need no global. Also allowed: ``set``/``frozenset`` and
    ``bytes`` as Python 2 and protocols 0-2 write them, and numpy scalars
    and arrays (ids written by numpy-based tools).
    """
    return {**_basic_globals(), **_numpy_globals()}


def _pickled_globals(data: bytes) -> List[str]:
    """The globals named by the pickles at the start of ``data``, as far as
    they can be read (best effort, for error messages)."""
    found: List[str] = []
    strings: List[str] = []
    f = io.BytesIO(data)
    try:
        while f.tell() < len(data):
            for op, arg, _ in pickletools.genops(f):
                if op.name in ('GLOBAL', 'INST'):
                    found.append(arg.replace(' ', '.'))
                elif op.name == 'STACK_GLOBAL' and len(strings) >= 2:
                    found.append('.'.join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
    except Exception:  # raw storage bytes follow the pickles
        pass
    return found


def _safe_load_from_bytes(data: bytes):
    """``torch.storage._load_from_bytes`` with safe (weights-only) loading.

    torch's own calls ``torch.load(..., weights_only=False)`` on bytes taken
    from the pickle, which would run any code they hold."""
    import torch

    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError as e:
        others = [
            g
            for g in _pickled_globals(data)
            if not g.startswith(('torch.', 'collections.'))
        ]
        named = f' naming the global {others[0]}' if others else ''
        raise _RefusedStorage(
            f'a tensor storage{named} that safe loading refuses'
        ) from e


def _torch_globals() -> Globals:
    import collections

    import torch
    import torch._utils

    utils = torch._utils
    allowed: Globals = {
        ('torch._utils', '_rebuild_tensor_v2'): utils._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_tensor_v3'): getattr(
            utils, '_rebuild_tensor_v3', None
        ),
        ('torch._utils', '_rebuild_parameter'): utils._rebuild_parameter,
        ('torch.storage', '_load_from_bytes'): _safe_load_from_bytes,
        ('torch', 'Size'): torch.Size,
        ('torch', 'device'): torch.device,
        ('collections', 'OrderedDict'): collections.OrderedDict,
    }
    for name in dir(torch):
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype):
            allowed[('torch', name)] = value
    return {k: v for k, v in allowed.items() if v is not None}


def _mask_globals() -> Globals:
    # rebuilt from their attributes (object.__new__ + __dict__): no code
    from mmdet.structures.mask import BitmapMasks, PolygonMasks

    module = 'mmdet.structures.mask.structures'
    return {(module, c.__name__): c for c in (BitmapMasks, PolygonMasks)}


def prediction_globals() -> Globals:
    """What a ``DumpResults`` predictions pickle may reference: the basic
    types, numpy arrays and scalars, torch tensors (rebuilt from their
    storage bytes with safe loading) and mmdet's ``BitmapMasks`` and
    ``PolygonMasks`` (the ground-truth masks of the data samples)."""
    return {
        **_basic_globals(),
        **_numpy_globals(),
        **_torch_globals(),
        **_mask_globals(),
    }
