# Copyright (c) mmgres contributors. All rights reserved.
"""GSVA's two stages chained at toy size, as a user runs them: the tiny
pre-training on the mixture stand-ins (every dataset kind: label maps,
parts, referring, VQA, ReasonSeg), then the tiny gRefCOCO fine-tuning from
its last checkpoint, each with ``tools/train.py``."""

import os.path as osp
import subprocess
import sys

import torch
from tool_utils import REPO, tool_env

PRETRAIN = osp.join(
    REPO, 'configs/gsva/gsva_tiny_1xb8-40i_synthetic-pretrain-mixture.py'
)
FINETUNE = osp.join(
    REPO, 'configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py'
)


def _run(args, cwd):
    # the configs read data/ relative to the working directory
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


def test_pretrain_then_finetune(tmp_path):
    tools = osp.join(REPO, 'tools')
    convert = osp.join(tools, 'dataset_converters')
    _run(
        [
            osp.join(convert, 'generate_synthetic_grefcoco.py'),
            '--out-dir', 'data/synthetic_grefcoco', '--num-train', '4',
            '--num-val', '1', '--num-test', '1', '--img-size', '64',
            '--no-progress',
        ],
        tmp_path,
    )  # fmt: skip
    out = _run(
        [
            osp.join(
                tools, 'dataset_converters/generate_synthetic_mixture.py'
            ),
            '--num-images',
            '4',
        ],
        tmp_path,
    )
    assert 'llava' in out and 'reason_seg' in out
    log = _run(
        [
            osp.join(tools, 'train.py'), PRETRAIN,
            '--cfg-options', 'train_cfg.max_iters=3',
            'train_cfg.val_interval=100',
            'default_hooks.checkpoint.interval=3',
        ],
        tmp_path,
    )  # fmt: skip
    # every kind of the mixture was read
    for name in (
        'PacoLvisReferDataset', 'PascalPartReferDataset', 'GRefCOCODataset',
        'LlavaInstructDataset', 'ReasonSegDataset',
    ):  # fmt: skip
        assert name in log
    work = tmp_path / 'work_dirs'
    ckpt = work / 'gsva_tiny_1xb8-40i_synthetic-pretrain-mixture/iter_3.pth'
    assert ckpt.is_file()
    log = _run(
        [
            osp.join(tools, 'train.py'), FINETUNE,
            '--cfg-options', 'train_cfg.max_epochs=1',
            # lr 0: the weights stay the loaded ones
            'optim_wrapper.optimizer.lr=0', f'load_from={ckpt}',
        ],
        tmp_path,
    )  # fmt: skip
    assert f'Load checkpoint from {ckpt}' in log
    assert 'gres/gIoU' in log
    # the fine-tuning started from the pre-training's weights (at lr 0 it
    # ends with them)
    pre = torch.load(ckpt, map_location='cpu', weights_only=False)
    fine = torch.load(
        work / 'gsva_tiny_1xb8-8e_synthetic-grefcoco/epoch_1.pth',
        map_location='cpu',
        weights_only=False,
    )
    a, b = pre['state_dict'], fine['state_dict']
    assert set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
