"""A toy model, dataset and hooks that exercise the training tools.

Test-only: the tools (train/test, dist, resume, mim) are checked with a model
that trains in milliseconds. Imported by the toy configs through
``custom_imports``; ``tests/data/toy`` must be on ``PYTHONPATH``.
"""

import os
import os.path as osp
import signal

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmgres.registry import DATASETS, HOOKS, METRICS, MODELS


@MODELS.register_module()
class ToyRegressor(BaseModel):
    def __init__(self, in_dims=4):
        super().__init__()
        self.linear = nn.Linear(in_dims, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            targets = (
                torch.stack(targets) if isinstance(targets, list) else targets
            )
            return dict(loss=((out - targets) ** 2).mean())
        if mode == 'predict':
            return [dict(pred=o, target=t) for o, t in zip(out, targets)]
        return out


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """y = x · w with a fixed w; deterministic for the index."""

    def __init__(self, size=32, in_dims=4):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(size, in_dims, generator=g)
        self.y = self.x @ torch.arange(1.0, in_dims + 1)
        self.metainfo = dict(classes=('toy',))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


@METRICS.register_module()
class ToyMSE(BaseMetric):
    def process(self, data_batch, data_samples):
        for s in data_samples:
            self.results.append(float((s['pred'] - s['target']) ** 2))

    def compute_metrics(self, results):
        return dict(mse=sum(results) / len(results))


@HOOKS.register_module()
class ToyRecordHook(Hook):
    """Records what the tests check.

    * ``before_train``: the iteration training starts from and the optimizer
      state, to ``state_before_train.pth`` (after any resume).
    * ``after_run``: this rank's final weights, to ``rank{r}_weights.pth``.
    * kills the process with SIGKILL after iteration ``MMGRES_TOY_KILL_AT``
      (the 1-based count), when that variable is set.
    """

    priority = 'LOWEST'

    def before_train(self, runner):
        if get_rank() == 0:
            torch.save(
                dict(
                    iter=runner.iter,
                    optimizer=runner.optim_wrapper.state_dict(),
                ),
                osp.join(runner.work_dir, 'state_before_train.pth'),
            )

    def after_train_iter(
        self, runner, batch_idx, data_batch=None, outputs=None
    ):
        kill_at = os.environ.get('MMGRES_TOY_KILL_AT')
        if kill_at and runner.iter + 1 == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)

    def after_run(self, runner):
        model = (
            runner.model.module
            if hasattr(runner.model, 'module')
            else runner.model
        )
        torch.save(
            model.state_dict(),
            osp.join(runner.work_dir, f'rank{get_rank()}_weights.pth'),
        )


@HOOKS.register_module()
class RankRecordHook(Hook):
    """Saves what a rank trained on and its trainable parameters before and
    after, to ``rank{r}_record.pth`` in the work directory.

    The multi-process tests check with it that the ranks trained on
    different samples (so their gradients differ) and still ended with the
    same parameters, changed by training: only the gradients' all-reduce
    makes them equal. Buffers are left out: DDP broadcasts rank 0's at the
    start of each forward pass, so the last one leaves them rank-local
    (e.g. BatchNorm's running statistics).
    """

    priority = 'LOWEST'

    def _state(self, runner):
        model = runner.model
        model = model.module if hasattr(model, 'module') else model
        return {
            name: param.detach().clone()
            for name, param in model.named_parameters()
            if param.requires_grad
        }

    def before_train(self, runner):
        self.before = self._state(runner)
        self.samples = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        for sample in data_batch['data_samples']:
            self.samples.append(
                (sample.metainfo['img_path'], sample.metainfo['text'])
            )

    def after_train(self, runner):
        torch.save(
            dict(
                before=self.before,
                after=self._state(runner),
                samples=self.samples,
            ),
            osp.join(runner.work_dir, f'rank{get_rank()}_record.pth'),
        )
