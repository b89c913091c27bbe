# Copyright (c) mmgres contributors. All rights reserved.
"""Serializing referring samples with their shared parts stored once.

mmengine's ``BaseDataset`` pickles every entry of ``data_list`` on its own
(``serialize_data=True``), so whatever several entries share is stored once
per entry. Referring samples share a lot: every sentence of a ref has the
same target list, an object can be the target of several refs, and with
``with_context=True`` every sample of an image carries the masks of all of
its objects. Pickled one sample at a time, the polygons of gRefCOCO's
training split take about twice the bytes of the whole ``instances.json``
serialized by mmdet's ``CocoDataset``.

:func:`serialize_shared` stores each distinct (by identity) instance
list, instance dict and mask once, in a table of its own, and the samples
refer to them by index (pickle's persistent ids). :func:`load_shared`
rebuilds a sample: the same content as ``pickle.loads(pickle.dumps(
sample))``, objects shared within the sample (a target's mask, in
``instances`` and in ``context_instances``) still shared, and nothing
shared with another sample.
"""

import io
import pickle
from typing import Dict, Iterable, List, Tuple

import numpy as np

#: The sample keys whose (list) values are stored once when shared.
SHARED_LISTS = ('instances', 'context_instances')

Serialized = Tuple[np.ndarray, np.ndarray]


def _samples(entry: dict) -> Iterable[dict]:
    # text_mode='random' entries hold a ref's samples
    return entry['samples'] if 'samples' in entry else (entry,)


class _SharedPickler(pickle.Pickler):
    """Pickles the objects of ``table`` as persistent ids, except ``root``
    (the object being stored)."""

    def __init__(self, file, table: Dict[int, int], root) -> None:
        super().__init__(file, protocol=4)
        self.table = table
        self.root = root

    def persistent_id(self, obj):
        if obj is self.root:
            return None
        return self.table.get(id(obj))


def _to_array(chunks: List[bytes]) -> Serialized:
    sizes = np.fromiter((len(c) for c in chunks), np.int64, len(chunks))
    data = np.frombuffer(b''.join(chunks), dtype=np.uint8)
    return data, np.cumsum(sizes)


def serialize_shared(data_list: List[dict]) -> Tuple[Serialized, Serialized]:
    """Pickle ``data_list`` with its shared instance lists, instance dicts
    and masks once.

    Args:
        data_list (list[dict]): Referring samples (or ``text_mode='random'``
            entries ``dict(samples=[...])``).

    Returns:
        tuple: ``(entries, shared)``, each ``(bytes, end_addresses)`` as
        mmengine keeps them: the entries' pickles in order, and the table
        of shared objects they refer to.
    """
    table: Dict[int, int] = {}
    order: List[object] = []
    masks = set()  # leaves: pickled without the (per object) callback

    def share(obj) -> bool:
        if id(obj) in table:
            return False
        table[id(obj)] = len(order)
        order.append(obj)
        return True

    for entry in data_list:
        for sample in _samples(entry):
            for key in SHARED_LISTS:
                value = sample.get(key)
                if not isinstance(value, list) or not value:
                    continue
                if not share(value):
                    continue
                for instance in value:
                    if isinstance(instance, dict) and share(instance):
                        mask = instance.get('mask')
                        if isinstance(mask, (list, dict)) and share(mask):
                            masks.add(id(mask))

    def dumps(obj) -> bytes:
        if id(obj) in masks:
            return pickle.dumps(obj, protocol=4)
        buffer = io.BytesIO()
        _SharedPickler(buffer, table, obj).dump(obj)
        return buffer.getvalue()

    shared_chunks = [dumps(obj) for obj in order]
    entry_chunks = [dumps(entry) for entry in data_list]
    return _to_array(entry_chunks), _to_array(shared_chunks)


def _chunk(serialized: Serialized, idx: int) -> memoryview:
    data, address = serialized
    start = 0 if idx == 0 else int(address[idx - 1])
    return memoryview(data[start : int(address[idx])])


class _SharedUnpickler(pickle.Unpickler):
    def __init__(self, chunk, shared: Serialized, memo: dict) -> None:
        super().__init__(io.BytesIO(chunk))
        self.shared = shared
        self.loaded = memo

    def persistent_load(self, pid):
        if pid not in self.loaded:
            self.loaded[pid] = _SharedUnpickler(
                _chunk(self.shared, pid), self.shared, self.loaded
            ).load()
        return self.loaded[pid]


def load_shared(entries: Serialized, shared: Serialized, idx: int) -> dict:
    """Entry ``idx`` of :func:`serialize_shared`'s output, rebuilt."""
    return _SharedUnpickler(_chunk(entries, idx), shared, {}).load()
