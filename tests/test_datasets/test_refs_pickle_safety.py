"""Refs pickles are read without running code: a crafted file fails with
an error naming the file and the global, and runs nothing; real refs files
(any protocol, Python 2's latin-1 text) load as before."""

import os
import pickle

import numpy as np
import pytest

from mmgres.datasets.utils.annotation_io import ReferFormatError, load_refs


class _RunsCommand:
    """Unpickling it calls ``os.system(cmd)``."""

    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def _refs(extra=None):
    ref = {
        'ref_id': 1,
        'ann_id': 11,
        'image_id': 1,
        'split': 'train',
        'category_id': 1,
        'file_name': 'COCO_train2014_000000000001_11.jpg',
        'sent_ids': [100, 101],
        'sentences': [
            {
                'tokens': ['the', 'red', 'square'],
                'raw': 'The red square.',
                'sent_id': 100,
                'sent': 'the red square',
            },
            {'tokens': [], 'raw': '', 'sent_id': 101, 'sent': ''},
        ],
        'score': 0.5,
        'exist': True,
        'note': None,
    }
    if extra:
        ref.update(extra)
    return [ref]


def test_malicious_refs_file_runs_nothing(tmp_path):
    marker = tmp_path / 'xxx' / 'pwned'
    marker.parent.mkdir()
    path = tmp_path / 'refs(unc).p'
    with open(path, 'wb') as f:
        pickle.dump(_refs({'x': _RunsCommand(f'touch {marker}')}), f)
    with pytest.raises(ReferFormatError) as info:
        load_refs(str(path), 'pickle')
    msg = str(info.value)
    assert str(path) in msg
    assert f'{os.system.__module__}.system' in msg  # posix.system
    assert not marker.exists()


@pytest.mark.parametrize('protocol', [0, 2, 4])
def test_refs_of_any_protocol_load_identically(tmp_path, protocol):
    refs = _refs({'tags': {'a', 'b'}, 'blob': b'\x00\xff'})
    path = tmp_path / f'refs_p{protocol}.p'
    with open(path, 'wb') as f:
        pickle.dump(refs, f, protocol=protocol)
    assert load_refs(str(path), 'pickle') == refs


def test_numpy_ids_load(tmp_path):
    refs = _refs({'ann_id': np.int64(11), 'box': np.arange(4.0)})
    path = tmp_path / 'refs_np.p'
    with open(path, 'wb') as f:
        pickle.dump(refs, f, protocol=2)
    got = load_refs(str(path), 'pickle')[0]
    assert got['ann_id'] == 11 and isinstance(got['ann_id'], np.int64)
    np.testing.assert_array_equal(got['box'], np.arange(4.0))


def test_python2_latin1_pickle(tmp_path):
    # What Python 2 writes for {'ref_id': 1, ..., 'sent': 'caf\xe9'} with
    # protocol 2: byte strings (SHORT_BINSTRING) that are not ASCII.
    def binstring(b):
        return b'U' + bytes([len(b)]) + b

    items = [
        (b'ref_id', b'K\x01'),  # BININT1
        (b'image_id', b'K\x02'),
        (b'split', binstring(b'val')),
        # [{'sent': 'caf\xe9'}]: EMPTY_LIST EMPTY_DICT key value SETITEM
        # APPEND
        (b'sentences', b']}' + binstring(b'sent') + binstring(b'caf\xe9')),
    ]
    body = b''.join(
        binstring(k) + v + (b'sa' if k == b'sentences' else b'')
        for k, v in items
    )
    # PROTO 2, EMPTY_LIST, EMPTY_DICT, MARK, items, SETITEMS, APPEND, STOP
    data = b'\x80\x02]}(' + body + b'ua.'
    path = tmp_path / 'refs_py2.p'
    path.write_bytes(data)
    refs = load_refs(str(path), 'pickle')
    assert refs == [
        {
            'ref_id': 1,
            'image_id': 2,
            'split': 'val',
            'sentences': [{'sent': 'café'}],
        }
    ]
