"""Each model's tiny config trained by tools/dist_train.sh on 2 CPU
processes (gloo, DDP) for 2 iterations.

DDP raises on a parameter that needs a gradient and gets none (unless
``find_unused_parameters`` is set, which costs a traversal of the autograd
graph every iteration), so every trainable parameter must take part in the
loss. The ranks train on different samples; they end with the same weights
only through the gradients' all-reduce.
"""

import os.path as osp
import socket
import subprocess
import time

import pytest
import torch
from mmengine.config import Config
from tool_utils import REPO, tool_env

CONFIGS = {
    'instalign': 'configs/instalign/instalign_tiny_1xb8-8e_synthetic-'
    'grefcoco.py',
    'igvg': 'configs/igvg/igvg_tiny_1xb8-5e_synthetic-grefcoco.py',
    'raam': 'configs/raam/raam_tiny_1xb8-8e_synthetic-grefcoco.py',
    'gsva': 'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py',
}
BATCH = 2  # per rank


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from mmgres.datasets import generate_synthetic_grefcoco

    root = str(tmp_path_factory.mktemp('synthetic'))
    # 4 images, 3-4 expressions each: more than the 2 ranks x 2 iterations
    # x 2 samples that are drawn
    generate_synthetic_grefcoco(root, num_images=dict(train=4), progress=False)
    return root + '/'


def _two_iter_config(config, data_root, path):
    """``config`` trained for 2 iterations on ``data_root``, batch 2 per
    rank, no validation, a checkpoint at the end, each rank's record."""
    sampler = Config.fromfile(osp.join(REPO, config)).train_dataloader.sampler
    cfg = dict(
        _base_=[osp.join(REPO, config)],
        custom_imports=dict(
            imports=['mmgres_toy'], allow_failed_imports=False
        ),
        custom_hooks=[dict(type='RankRecordHook')],
        train_dataloader=dict(
            batch_size=BATCH,
            dataset=dict(data_root=data_root),
        ),
        train_cfg=dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2),
        val_dataloader=None,
        val_cfg=None,
        val_evaluator=None,
        test_dataloader=None,
        test_cfg=None,
        test_evaluator=None,
        # the configs warm up from 1% of the learning rate
        param_scheduler=None,
        default_hooks=dict(
            logger=dict(interval=1),
            checkpoint=dict(
                interval=2, by_epoch=False, save_best=None, max_keep_ckpts=1
            ),
        ),
        log_processor=dict(by_epoch=False),
        # DDP's check that every trainable parameter gets a gradient
        # (RaAM's base config turns it off)
        model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', find_unused_parameters=False
        ),
    )
    if 'batch_size' in sampler:  # GSVA's ImageGroupedSampler
        cfg['train_dataloader']['sampler'] = dict(batch_size=BATCH)
    with open(path, 'w') as f:
        f.write(Config(cfg).pretty_text)
    return str(path)


@pytest.mark.parametrize('model', list(CONFIGS))
def test_two_ranks_train_to_the_same_weights(model, synthetic, tmp_path):
    config = _two_iter_config(
        CONFIGS[model], synthetic, tmp_path / f'{model}_2iter.py'
    )
    work = tmp_path / 'work'
    start = time.perf_counter()
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work)],
        cwd=REPO,
        env=tool_env(PORT=_free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-5000:]
    print(f'{model}: 2 ranks x 2 iterations in {seconds:.1f} s')
    assert 'CPU distributed run: gloo, rank 0 of 2' in proc.stdout
    assert 'Iter(train) [2/2]' in proc.stdout

    import mmgres  # noqa: F401  (safe loading of mmengine's checkpoints)

    r0, r1 = (
        torch.load(work / f'rank{r}_record.pth', weights_only=True)
        for r in (0, 1)
    )
    # different data on the two ranks
    assert len(r0['samples']) == len(r1['samples']) == 2 * BATCH
    assert not set(r0['samples']) & set(r1['samples'])
    # the same trainable parameters at the end, most changed by training
    assert r0['after'].keys() == r1['after'].keys()
    differ = [k for k, v in r0['after'].items() if not v.equal(r1['after'][k])]
    assert not differ, f'parameters that differ between the ranks: {differ}'
    changed = [
        k for k, v in r0['after'].items() if not v.equal(r0['before'][k])
    ]
    print(f'{model}: {len(changed)} of {len(r0["after"])} changed')
    assert len(changed) > len(r0['after']) // 2
    # the checkpoint saved at the end holds them
    state = torch.load(work / 'iter_2.pth', weights_only=True)['state_dict']
    for key, value in r1['after'].items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
