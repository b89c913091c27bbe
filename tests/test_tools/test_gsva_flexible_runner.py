"""The tiny GSVA through mmengine's FlexibleRunner and tools/dist_train.sh on
two CPU processes (gloo), 2 iterations each: the FSDP alternative of the
full config, and the full configs' DeepSpeed ZeRO-2 bf16 strategy."""

import glob
import importlib.util
import os.path as osp
import socket
import subprocess

import pytest
import torch
from mmengine.config import Config
from tool_utils import REPO, tool_env

TINY = osp.join(REPO, 'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py')
FULL_7B = osp.join(
    REPO, 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py'
)
FULL_7B_FSDP = osp.join(
    REPO, 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_fsdp.py'
)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from mmgres.datasets import generate_synthetic_grefcoco

    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_grefcoco(
        root, num_images=dict(train=6, val=3, testA=1), progress=False
    )
    return root + '/'


def _tiny_with(full_cfg, data_root, path, **overrides):
    """The tiny GSVA trained the way ``full_cfg`` trains (its runner type,
    strategy and optimizer wrapper), on ``data_root``, for 2 iterations,
    then evaluated; each rank's record (``RankRecordHook``)."""
    tiny = Config.fromfile(TINY)
    full = Config.fromfile(full_cfg)
    cfg = dict(
        _base_=[TINY],
        runner_type=full.runner_type,
        strategy=full.strategy.to_dict(),
        optim_wrapper=dict(_delete_=True, **full.optim_wrapper.to_dict()),
        custom_imports=dict(
            imports=['mmgres_toy'], allow_failed_imports=False
        ),
        custom_hooks=[dict(type='RankRecordHook')],
        train_cfg=dict(
            _delete_=True,
            type='IterBasedTrainLoop',
            max_iters=2,
            val_interval=2,
        ),
        train_dataloader=dict(
            batch_size=4,
            sampler=dict(batch_size=4),
            dataset=dict(data_root=data_root),
        ),
        val_dataloader=dict(dataset=dict(data_root=data_root)),
        test_dataloader=dict(dataset=dict(data_root=data_root)),
        default_hooks=dict(
            logger=dict(interval=1),
            checkpoint=dict(interval=2, by_epoch=False, save_best=None),
        ),
        log_processor=dict(by_epoch=False),
        param_scheduler=tiny.param_scheduler[:1],
    )
    for key, value in overrides.items():
        node = cfg
        *parents, leaf = key.split('.')
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    with open(path, 'w') as f:
        f.write(Config(cfg).pretty_text)
    return str(path)


def _tiny_model():
    from mmengine.registry import DefaultScope

    from mmgres.registry import MODELS
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(Config.fromfile(TINY).model)


def _dist_train(config, nproc, work_dir):
    proc = subprocess.run(
        [
            'bash',
            'tools/dist_train.sh',
            config,
            str(nproc),
            '--work-dir',
            str(work_dir),
        ],
        cwd=REPO,
        env=tool_env(PORT=_free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def test_fsdp_two_cpu_ranks(synthetic, tmp_path):
    """The FSDP alternative of the full config (SHARD_GRAD_OP, per-layer
    units by class name, bf16 mixed precision, gradient accumulation) runs
    on two CPU processes with gloo."""
    config = _tiny_with(
        FULL_7B_FSDP,
        synthetic,
        tmp_path / 'tiny_fsdp.py',
        **{'optim_wrapper.accumulative_counts': 2},
    )
    out = _dist_train(config, 2, tmp_path / 'work')
    assert 'CPU distributed run: gloo, rank 0 of 2' in out
    assert 'FSDPStrategy' in out  # the dumped config
    assert 'MMFullyShardedDataParallel' in out
    losses = [
        float(line.split('loss: ')[1].split()[0])
        for line in out.splitlines()
        if 'Iter(train)' in line and 'loss: ' in line
    ]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert 'gres/gIoU' in out  # distributed evaluation of both ranks
    # state_dict_cfg='local': each rank saves its shard
    for rank in (0, 1):
        assert (tmp_path / 'work' / 'iter_2.pth' / f'rank{rank}.pth').is_file()


def test_deepspeed_zero2_bf16_two_cpu_ranks(synthetic, tmp_path):
    """The full config's DeepSpeed strategy (ZeRO-2, bf16, clipping,
    accumulation, frozen weights left out of checkpoints) on two CPU
    processes. Each rank updates its partition of the parameters and
    all-gathers the others': the ranks, trained on different samples, end
    with the same parameters."""
    # the ranks import DeepSpeed; this process need not (its import-time
    # probes would print past pytest's capture)
    if importlib.util.find_spec('deepspeed') is None:
        pytest.skip('deepspeed is not installed (requirements/nodeps.txt)')
    config = _tiny_with(
        FULL_7B,
        synthetic,
        tmp_path / 'tiny_ds.py',
        **{
            'strategy.gradient_accumulation_steps': 2,
            # the full config's 1e9-element buckets are 2 GB buffers
            'strategy.zero_optimization.reduce_bucket_size': int(5e6),
            'strategy.zero_optimization.allgather_bucket_size': int(5e6),
        },
    )
    work = tmp_path / 'work'
    out = _dist_train(config, 2, work)
    assert 'CPU distributed run: gloo, rank 0 of 2' in out
    assert 'DeepSpeedStrategy' in out
    assert 'GlooDeepSpeedOptimWrapper' in out  # picked for gloo
    assert 'Setting accelerator to CPU' not in out  # DS_ACCELERATOR=cpu
    assert 'gres/gIoU' in out
    r0, r1 = (
        torch.load(work / f'rank{r}_record.pth', weights_only=True)
        for r in (0, 1)
    )
    assert r0['samples'] and not set(r0['samples']) & set(r1['samples'])
    assert r0['after'].keys() == r1['after'].keys()
    for key, value in r0['after'].items():
        torch.testing.assert_close(value, r1['after'][key], rtol=0, atol=0)
    changed = [
        k for k, v in r0['after'].items() if not v.equal(r0['before'][k])
    ]
    assert len(changed) > len(r0['after']) // 2
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_dir()  # a DeepSpeed checkpoint directory
    (states,) = glob.glob(str(ckpt / '*model_states.pt'))
    state = torch.load(states, map_location='cpu', weights_only=False)
    keys = list(state['module'])
    # exclude_frozen_parameters: the trained parts only (the tiny config
    # trains LoRA, the LLM, CLIP, SAM's encoder and decoder; SAM's prompt
    # encoder stays frozen)
    assert any('lora_A' in k for k in keys)
    assert any('mask_decoder' in k for k in keys)
    assert not any('no_mask_embed' in k for k in keys)
    frozen = [
        n for n, p in _tiny_model().named_parameters() if not p.requires_grad
    ]
    assert frozen and not set(frozen) & set(keys)
    assert state['module'][keys[0]].dtype == torch.bfloat16
    for key, value in r1['after'].items():
        torch.testing.assert_close(state['module'][key], value, rtol=0, atol=0)
