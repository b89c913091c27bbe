"""Two gloo CPU ranks, each evaluating half the samples, agree with one.

Self-contained: the spawned workers import this module, so it builds its
samples from plain tensors (the ``.to_dict()`` form an Evaluator passes).
"""

import os
import os.path as osp
import pickle
import socket

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

NUM_SAMPLES = 7  # odd: the ranks hold 4 and 3 samples


def _samples():
    """Mixed GRES / R-RefCOCO samples as dicts, deterministic."""
    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(NUM_SAMPLES):
        no_target = i % 3 == 2
        gt = torch.rand((1, 8, 8), generator=gen) > 0.5
        if no_target:
            gt[:] = False
        pred = torch.rand((1, 8, 8), generator=gen) > 0.4
        samples.append(
            dict(
                img_id=i,
                ref_id=i // 2,
                sent_id=i,
                no_target=no_target,
                exist=not no_target,
                pred_no_target=bool(i % 2),
                gt_sem_seg=dict(data=gt.to(torch.uint8)),
                pred_sem_seg=dict(data=pred),
            )
        )
    return samples


def _metrics(collect_dir=None):
    from mmgres.evaluation import GRESMetric, RRefCOCOMetric

    return [
        GRESMetric(collect_dir=collect_dir),
        RRefCOCOMetric(collect_dir=collect_dir),
    ]


def _worker(rank, world_size, port, out_dir):
    torch_dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world_size,
    )
    try:
        # As mmengine's DefaultSampler does: rank r takes r, r + W, ...
        mine = _samples()[rank::world_size]
        results = {}
        for metric in _metrics(osp.join(out_dir, 'collect')):
            metric.process({}, mine[:2])
            metric.process({}, mine[2:])
            results.update(metric.evaluate(NUM_SAMPLES))
        with open(osp.join(out_dir, f'rank{rank}.pkl'), 'wb') as f:
            pickle.dump(results, f)
        # Let the last broadcast settle on both ranks before tearing gloo
        # down; without it a rank may abort in gloo's destructor.
        torch_dist.barrier()
    except BaseException:
        torch_dist.destroy_process_group()
        raise
    # Results are written and both ranks are past the barrier. Leave without
    # running gloo's destructors, which can still abort (SIGABRT) on a loaded
    # machine; that teardown is not what this test checks.
    os._exit(0)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_ranks_equal_one(tmp_path):
    expected = {}
    for metric in _metrics():
        metric.process({}, _samples())
        expected.update(metric.evaluate(NUM_SAMPLES))

    mp.spawn(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True
    )
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.pkl', 'rb') as f:
            got = pickle.load(f)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == value or (
                got[key] != got[key] and value != value
            ), key
    # sanity: the fixture really mixes all four GRES cases
    assert 0 < expected['gres/N_acc'] < 100
    assert 0 < expected['gres/T_acc'] < 100
