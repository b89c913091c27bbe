"""The restricted unpickler of mmgres.utils.safe_pickle, and the predictions
pickles of tools/analysis_tools/eval_predictions.py."""

import io
import os
import os.path as osp
import pickle
import runpy

import mmengine
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from mmgres.utils.safe_pickle import (
    ForbiddenGlobalError,
    prediction_globals,
    refs_globals,
    restricted_load,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EVAL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_predictions.py')


class _RunsCommand:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _StorageRunsCommand:
    """Pickled like a tensor storage whose bytes hold a command: torch's own
    ``_load_from_bytes`` would ``torch.load(..., weights_only=False)``
    them."""

    def __init__(self, cmd):
        self.payload = pickle.dumps(_RunsCommand(cmd))

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.payload,))


@pytest.fixture
def load_predictions():
    return runpy.run_path(EVAL)['load_predictions']


def _predictions():
    """What DumpResults stores for a grounder (as seen in real runs of
    tools/test.py --out): data-sample dicts of tensors, numpy arrays and
    scalars, mmdet masks, strings and numbers."""
    return [
        dict(
            img_path='a.jpg',
            ori_shape=(4, 5),
            scale_factor=(np.float64(0.5), 1.0),
            homography_matrix=np.eye(3, dtype=np.float32),
            flip=False,
            text='the red circle',
            sent_id=np.int64(7),
            pred_no_target=False,
            pred_nt_score=0.25,
            pred_sem_seg=dict(data=torch.zeros(1, 4, 5, dtype=torch.bool)),
            pred_instances=dict(
                masks=torch.ones(2, 4, 5, dtype=torch.bool),
                bboxes=torch.rand(2, 4),
                scores=torch.tensor([0.9, 0.1]),
                labels=torch.zeros(2, dtype=torch.int64),
            ),
            gt_instances=dict(
                bboxes=torch.rand(1, 4).half(),
                masks=BitmapMasks(np.ones((1, 4, 5), np.uint8), 4, 5),
            ),
            ignored_instances=dict(masks=PolygonMasks([], 4, 5)),
            raw=b'',
        )
    ]


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b)
    elif isinstance(a, (BitmapMasks, PolygonMasks)):
        assert type(a) is type(b)
        assert (a.height, a.width) == (b.height, b.width)
        _assert_same(a.masks, b.masks)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    else:
        assert a == b and type(a) is type(b)


def test_dump_results_predictions_load(tmp_path, load_predictions):
    path = str(tmp_path / 'preds.pkl')
    preds = _predictions()
    mmengine.dump(preds, path)  # DumpResults' writer (protocol 2)
    _assert_same(load_predictions(path), preds)
    with open(path, 'wb') as f:
        pickle.dump(preds, f, protocol=pickle.HIGHEST_PROTOCOL)
    _assert_same(load_predictions(path), preds)


@pytest.mark.parametrize('wrap', ['plain', 'storage'])
def test_malicious_predictions_run_nothing(tmp_path, load_predictions, wrap):
    marker = tmp_path / 'xxx' / 'pwned'
    marker.parent.mkdir()
    cmd = f'touch {marker}'
    evil = _RunsCommand(cmd) if wrap == 'plain' else _StorageRunsCommand(cmd)
    preds = _predictions()
    preds[0]['pred_instances']['extra'] = evil
    path = str(tmp_path / 'preds.pkl')
    mmengine.dump(preds, path)
    with pytest.raises(SystemExit) as info:
        load_predictions(path)
    msg = str(info.value)
    assert path in msg
    assert f'{os.system.__module__}.system' in msg  # posix.system
    assert not marker.exists()


def test_forbidden_global_error_names_source_and_global():
    data = pickle.dumps([{'a': 1}, print])
    with pytest.raises(ForbiddenGlobalError, match=r'x\.p: .*builtins\.print'):
        restricted_load(data, refs_globals(), source='x.p', what='refs file')
    # bytes must come from _codecs.encode(str, 'latin1') only
    evil = pickle.dumps(b'\x00\xff', protocol=2).replace(b'latin1', b'zlib__')
    with pytest.raises(pickle.UnpicklingError, match='zlib__'):
        restricted_load(io.BytesIO(evil), prediction_globals())
