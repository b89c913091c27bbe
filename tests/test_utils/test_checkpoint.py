import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader

from mmgres.utils.checkpoint import (
    _restricted_getattr,
    check_checkpoint_path,
    load_local_checkpoint,
)


def _mmengine_like_checkpoint(path):
    hub = MessageHub.get_instance('test_ckpt')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/lr', np.float64(1e-3))
    hub.update_info('iter', np.int64(3))
    torch.save(
        dict(
            meta=dict(iter=3, seed=np.int64(0), arr=np.zeros(3)),
            state_dict=dict(w=torch.ones(2)),
            message_hub=hub.state_dict(),
        ),
        path,
    )


def test_safe_loading_of_mmengine_objects(tmp_path):
    import mmgres  # noqa: F401

    path = tmp_path / 'c.pth'
    _mmengine_like_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.current() == 0.5
    assert ckpt['meta']['iter'] == 3
    # through mmengine's loader as well
    assert CheckpointLoader.load_checkpoint(str(path))['meta']['seed'] == 0


def test_restricted_getattr_refuses_other_attributes():
    assert _restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        _restricted_getattr(torch, 'load')


def test_safe_loading_still_refuses_arbitrary_objects(tmp_path):
    import argparse

    path = tmp_path / 'evil.pth'
    torch.save(dict(x=argparse.Namespace(a=1)), path)
    with pytest.raises(RuntimeError, match='allow-list'):
        load_local_checkpoint(str(path))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_local_checkpoint(str(tmp_path / 'nope.pth'))
    (tmp_path / 'good.pth').write_bytes(b'')
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'\x00garbage')
    with pytest.raises(RuntimeError, match='bad.pth is corrupt.*good.pth'):
        load_local_checkpoint(str(bad))
    with pytest.raises(FileNotFoundError, match='Test checkpoint not found'):
        check_checkpoint_path(str(tmp_path / 'x.pth'), 'Test')
    check_checkpoint_path('https://example.com/x.pth', 'Test')  # remote: skip
