# Copyright (c) mmgres contributors. All rights reserved.
"""Inference and training images/s and peak memory of a grounder, on a CPU
or a CUDA GPU, in fp32 or mixed precision, optionally beside mmdet's
Mask2Former on the same backbone, pixel decoder, decoder and input size,
or beside another config (RaAM-RVG beside its direct-interaction ablation,
say), all measured in the same run.

    python tools/analysis_tools/benchmark.py CONFIG [--compare-mask2former]
        [--compare-config OTHER] [--device {cpu,cuda}] [--amp]
        [--amp-dtype {fp16,bf16}] [--batch-size 2] [--shape H W]
        [--warmup 2] [--iters 5] [--threads N] [--out-json PATH]
        [--cfg-options ...]

Inputs are random images and masks at the config's test input size
(``mmgres.testing.demo_grounding_inputs``); data loading and the copy to
the device are not timed. The models are built as their configs say,
without ``init_weights()``: random weights, unless a config loads its
weights while building (GSVA's ``pretrained=True``). Timings interleave
the models so that machine noise hits them alike; report the ratios, not
the absolute numbers.

What one step is:

* inference: ``model(..., mode='predict')`` under ``torch.no_grad``, the
  post-processing included;
* training: the forward in ``loss`` mode, ``parse_losses``, backward and
  the optimizer step, through the config's ``optim_wrapper`` built by
  mmengine (parameter groups and gradient clipping included). Two changes
  make it one step of one process: ``accumulative_counts`` is dropped (an
  optimizer step every time), and a ``DeepSpeedOptimWrapper`` (which needs
  the FlexibleRunner's DeepSpeed engine) becomes a plain ``OptimWrapper``
  with the same optimizer. ``--amp`` makes it mmengine's
  ``AmpOptimWrapper`` with ``dtype`` float16 or bfloat16 (its
  ``optim_context`` autocasts, its GradScaler scales the loss) on CUDA. On a
  CPU, which that wrapper refuses, bf16 uses mmgres'
  ``CPUAutocastOptimWrapper`` (as ``tools/train.py --amp`` does there) and
  fp16 a plain ``OptimWrapper``, the forward under
  ``torch.autocast('cpu', torch.float16)``. Inference with ``--amp`` runs
  under the same ``torch.autocast``.

On CUDA, every timed step is enclosed in ``torch.cuda.synchronize()``.
Images/s is the batch size over the median step time; training also gives
iterations/s.

Peak memory of a step (MiB), of each model as if it were alone on the
device:

* CUDA: ``torch.cuda.max_memory_allocated`` during the step (its peak
  statistics reset before each step), minus the memory allocated before
  the step (the other models, the inputs), plus the model's own tensors
  before the step: parameters and buffers, and for training the optimizer
  state. The caching allocator's reserve is not counted.
* CPU: the growth of the peak resident set size during the step (the
  process's ``VmHWM``, reset through ``/proc/self/clear_refs`` after
  glibc's ``malloc_trim`` has returned the free heap pages) above the RSS
  before it, plus the same model tensors. A lower bound: pages that the
  allocator kept from an earlier step are not counted again. Null where
  ``/proc/self/clear_refs`` cannot be written.

The largest value over the timed steps is reported; warm-up steps are
left out, since the first step of a process also makes its lazily built
state (kernels, caches), which a CPU's RSS would charge to the first
model.
"""

import argparse
import contextlib
import copy
import ctypes
import ctypes.util
import json
import logging
import os
import re
import time

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmgres.registry import MODELS
from mmgres.testing import demo_grounding_inputs, ensure_offline_tokenizer
from mmgres.utils import hub_offline, register_all_modules

#: ``--amp-dtype`` names, as torch dtypes and as AmpOptimWrapper's names
AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)
AMP_DTYPE_NAMES = dict(fp16='float16', bf16='bfloat16')
MIB = 2**20


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a grounder')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--compare-mask2former',
        action='store_true',
        help="also time mmdet's Mask2Former with the same backbone, pixel "
        'decoder, decoder and input size, interleaved with the grounder',
    )
    parser.add_argument(
        '--compare-config',
        default=None,
        metavar='OTHER',
        help='also time the model of this config on the same input, '
        'interleaved with the grounder (e.g. its ablation); --cfg-options '
        'apply to it too',
    )
    parser.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='where the models run (default: cuda when available, '
        'here %(default)s)',
    )
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: torch.autocast for both steps, '
        "mmengine's AmpOptimWrapper for training on CUDA",
    )
    parser.add_argument(
        '--amp-dtype',
        choices=sorted(AMP_DTYPES),
        default=None,
        help='the autocast dtype; implies --amp (default with --amp: fp16)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=2,
        help='images per step (default: %(default)s)',
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=None,
        metavar=('H', 'W'),
        help='input size; default: the test Resize scale of the config',
    )
    parser.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed steps per model first (default: %(default)s)',
    )
    parser.add_argument(
        '--iters',
        type=int,
        default=5,
        help='timed steps per model; the median is reported '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help="torch CPU threads (default: torch's own choice)",
    )
    parser.add_argument(
        '--out-json',
        default=None,
        metavar='PATH',
        help='also write the settings and every measurement to this JSON file',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    args = parser.parse_args(argv)
    if args.iters < 1:
        parser.error('--iters must be at least 1')
    args.amp = args.amp_dtype or ('fp16' if args.amp else None)
    return args


def mask2former_counterpart(model_cfg):
    """mmdet's Mask2Former with the grounder's backbone, pixel decoder,
    decoder widths/depths, queries and point sampling; one class."""
    head = copy.deepcopy(model_cfg.head)
    decoder = head.transformer_decoder
    decoder.layer_cfg.pop('text_attn_cfg', None)
    train_cfg = copy.deepcopy(model_cfg.train_cfg)
    train_cfg.assigner = dict(
        type='HungarianAssigner',
        match_costs=[
            dict(type='ClassificationCost', weight=2.0),
            dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
            dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0),
        ],
    )
    return ConfigDict(
        type='mmdet.Mask2Former',
        data_preprocessor=model_cfg.data_preprocessor,
        backbone=model_cfg.backbone,
        panoptic_head=dict(
            type='mmdet.Mask2FormerHead',
            in_channels=head.in_channels,
            strides=head.get('strides', [4, 8, 16, 32]),
            feat_channels=head.feat_channels,
            out_channels=head.out_channels,
            num_things_classes=1,
            num_stuff_classes=0,
            num_queries=head.num_queries,
            num_transformer_feat_level=head.get(
                'num_transformer_feat_level', 3
            ),
            pixel_decoder=head.pixel_decoder,
            enforce_decoder_input_project=False,
            positional_encoding=head.positional_encoding,
            transformer_decoder=decoder,
            loss_cls=dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                loss_weight=2.0,
                reduction='mean',
                class_weight=[1.0, 0.1],
            ),
            loss_mask=head.loss_mask,
            loss_dice=head.loss_dice,
        ),
        panoptic_fusion_head=dict(
            type='mmdet.MaskFormerFusionHead',
            num_things_classes=1,
            num_stuff_classes=0,
            loss_panoptic=None,
            init_cfg=None,
        ),
        train_cfg=train_cfg,
        test_cfg=dict(
            panoptic_on=False,
            semantic_on=False,
            instance_on=True,
            max_per_image=head.num_queries,
            iou_thr=0.8,
            filter_low_score=True,
        ),
    )


def input_shape(cfg):
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize':
            return t['scale'][1], t['scale'][0]
    raise ValueError('No Resize in the test pipeline; pass --shape H W')


def load_config(path, cfg_options):
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def optim_wrapper_cfg(cfg, device, amp):
    """The config's ``optim_wrapper`` as one process on ``device`` runs
    it: an optimizer step at every call (no ``accumulative_counts``), a
    plain ``OptimWrapper`` in place of DeepSpeed's, and with ``amp`` ('fp16'
    or 'bf16') mmengine's ``AmpOptimWrapper`` on CUDA, mmgres'
    ``CPUAutocastOptimWrapper`` for bf16 on a CPU."""
    ow = copy.deepcopy(cfg.get('optim_wrapper', None))
    if ow is None:  # ours: a config without one (a test's, say)
        ow = dict(optimizer=dict(type='AdamW', lr=1e-5))
    ow = ConfigDict(ow)
    ow.pop('accumulative_counts', None)
    if amp and device.type == 'cuda':
        ow.type = 'AmpOptimWrapper'
        ow.dtype = AMP_DTYPE_NAMES[amp]
    elif amp == 'bf16':  # on a CPU, as tools/train.py --amp
        ow.type = 'CPUAutocastOptimWrapper'
        ow.dtype = 'bfloat16'
        ow.pop('loss_scale', None)
    else:
        ow.type = 'OptimWrapper'
        ow.pop('dtype', None)
        ow.pop('loss_scale', None)
    return ow


class CudaMemory:
    """Peak bytes that the CUDA caching allocator handed out in a step,
    above those allocated before it."""

    description = (
        'torch.cuda.max_memory_allocated during the step, above the memory '
        'allocated before it, plus the model tensors'
    )

    def __init__(self, device):
        self.device = device
        self.before = 0

    def sync(self):
        torch.cuda.synchronize(self.device)

    def start(self):
        self.sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        self.before = torch.cuda.memory_allocated(self.device)

    def stop(self):
        return torch.cuda.max_memory_allocated(self.device) - self.before


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None


_LIBC = _libc()


def _status_kib(name):
    with open('/proc/self/status') as f:
        return int(re.search(name + r':\s+(\d+) kB', f.read()).group(1))


class RssMemory:
    """Growth of the process's peak resident set size in a step (Linux:
    ``VmHWM``, reset through ``/proc/self/clear_refs``)."""

    description = (
        'peak RSS (VmHWM, reset before the step) above the RSS before it, '
        'plus the model tensors; a lower bound'
    )

    def __init__(self):
        self.before = None
        try:
            self._reset()
            _status_kib('VmHWM')
            self.available = True
        except (OSError, AttributeError):
            self.available = False

    @staticmethod
    def _reset():
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the peak RSS to the current RSS

    def sync(self):
        pass

    def start(self):
        if self.available:
            if _LIBC is not None:  # return freed heap pages to the system
                _LIBC.malloc_trim(0)
            self._reset()
            self.before = _status_kib('VmRSS') * 1024

    def stop(self):
        if not self.available:
            return None
        return _status_kib('VmHWM') * 1024 - self.before


def tensor_bytes(tensors, device):
    """Bytes of the distinct storages of ``tensors`` on ``device``'s type."""
    seen, total = set(), 0
    for t in tensors:
        if not torch.is_tensor(t) or t.device.type != device.type:
            continue
        storage = t.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


class Runner:
    """Times one model's predict and train steps on fixed demo inputs and
    records each step's peak memory."""

    def __init__(
        self,
        name,
        config,
        model,
        inputs,
        samples,
        optim_cfg,
        device,
        amp,
        meter,
    ):
        self.name = name
        self.config = config
        self.device = device
        self.amp = amp
        self.meter = meter
        self.model = model.to(device)
        self.inputs = inputs
        self.samples = samples
        # mmengine logs the options of every parameter: thousands of lines
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            self.optim = build_optim_wrapper(self.model, optim_cfg)
        finally:
            logger.setLevel(level)
        self.times = dict(infer=[], train=[])
        self.peaks = dict(infer=[], train=[])
        self.model_bytes = dict(infer=0, train=0)

    def _data(self, training):
        samples = [copy.deepcopy(s) for s in self.samples]
        return self.model.data_preprocessor(
            dict(inputs=self.inputs.clone(), data_samples=samples), training
        )

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp])

    def _own_bytes(self, phase):
        tensors = [*self.model.parameters(), *self.model.buffers()]
        if phase == 'train':
            for state in self.optim.optimizer.state.values():
                tensors += [v for v in state.values() if torch.is_tensor(v)]
        return tensor_bytes(tensors, self.device)

    def _measure(self, phase, step, record):
        own = self._own_bytes(phase)
        self.meter.start()
        t = time.perf_counter()
        step()
        self.meter.sync()
        elapsed = time.perf_counter() - t
        growth = self.meter.stop()
        if record:
            self.times[phase].append(elapsed)
            self.peaks[phase].append(None if growth is None else growth + own)
            self.model_bytes[phase] = own

    def infer(self, record=True):
        self.model.eval()
        data = self._data(False)

        def step():
            with torch.no_grad(), self._autocast():
                self.model(**data, mode='predict')

        self._measure('infer', step, record)

    def train(self, record=True):
        self.model.train()
        data = self._data(True)

        def step():
            with self.optim.optim_context(self.model), self._autocast():
                losses = self.model(**data, mode='loss')
            loss, _ = self.model.parse_losses(losses)
            self.optim.update_params(loss)

        self._measure('train', step, record)

    def summary(self, batch_size):
        params = list(self.model.parameters())
        optim = self.optim
        out = dict(
            name=self.name,
            config=self.config,
            params_m=sum(p.numel() for p in params) / 1e6,
            trainable_params_m=sum(
                p.numel() for p in params if p.requires_grad
            )
            / 1e6,
            optim=dict(
                wrapper=type(optim).__name__,
                optimizer=type(optim.optimizer).__name__,
                lr=sorted({g['lr'] for g in optim.optimizer.param_groups}),
                clip_grad=dict(optim.clip_grad_kwargs or {}) or None,
            ),
        )
        for phase in ('infer', 'train'):
            times = self.times[phase]
            median = sorted(times)[len(times) // 2]
            peaks = [p for p in self.peaks[phase] if p is not None]
            out[phase] = dict(
                times_s=times,
                median_s=median,
                img_per_s=batch_size / median,
                peak_mem_mib=max(peaks) / MIB if peaks else None,
                model_mem_mib=self.model_bytes[phase] / MIB,
            )
        out['train']['iter_per_s'] = 1 / out['train']['median_s']
        return out


def _build(model_cfg, device):
    torch.manual_seed(0)
    if device.type == 'cuda':
        # The weights are made on the GPU: a random init of billions of
        # parameters on the CPU would take minutes. A module whose
        # construction needs CPU tensors (numpy, say) is built on the CPU.
        try:
            with device:
                return MODELS.build(copy.deepcopy(model_cfg))
        except Exception as e:  # noqa: BLE001
            print(f'built on the CPU ({type(e).__name__}: {e})')
            torch.cuda.empty_cache()
            torch.manual_seed(0)
    return MODELS.build(model_cfg)


def _mib(value):
    return '     n/a' if value is None else f'{value:8.0f}'


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no CUDA device')
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    shape = tuple(args.shape) if args.shape else input_shape(cfg)
    bs = args.batch_size
    meter = CudaMemory(device) if device.type == 'cuda' else RssMemory()
    # Offline, a hub tokenizer gives way to a stand-in: one request decides
    # that, instead of the hub's retries for each file.
    hub_offline()
    runners = []
    specs = [('grounder', args.config, cfg.model, cfg, True)]
    if args.compare_mask2former:
        # mmdet's Mask2Former reads gt_sem_seg.sem_seg; it needs none
        m2f = mask2former_counterpart(cfg.model)
        specs.append(('Mask2Former', args.config, m2f, cfg, False))
    if args.compare_config:
        other = load_config(args.compare_config, args.cfg_options)
        specs.append(
            ('compared', args.compare_config, other.model, other, True)
        )
    with DefaultScope.overwrite_default_scope('mmgres'):
        for name, path, model_cfg, owner, sem_seg in specs:
            model = _build(model_cfg, device)
            inputs, samples = demo_grounding_inputs(
                bs, shape, with_sem_seg=sem_seg
            )
            ensure_offline_tokenizer(model, [s.text for s in samples])
            optim = optim_wrapper_cfg(owner, device, args.amp)
            runners.append(
                Runner(
                    name,
                    path,
                    model,
                    inputs,
                    samples,
                    optim,
                    device,
                    args.amp,
                    meter,
                )
            )
        for r in runners:
            for _ in range(args.warmup):
                r.infer(record=False)
                r.train(record=False)
        for _ in range(args.iters):  # interleaved
            for r in runners:
                r.infer()
                r.train()

    results = [r.summary(bs) for r in runners]
    where = args.device
    if device.type == 'cuda':
        where += f' ({torch.cuda.get_device_name(device)})'
    else:
        where += f', {torch.get_num_threads()} threads'
    print(
        f'config: {args.config}; input {shape[0]}x{shape[1]}, batch {bs}, '
        f'{where}, {args.amp or "fp32"}, {args.iters} timed iterations'
    )
    if args.compare_config:
        print(f'compared: {args.compare_config}')
    width = max(len(r['name']) for r in results)
    for r in results:
        inf, trn = r['infer'], r['train']
        print(
            f'{r["name"]:<{width}s} params {r["params_m"]:8.2f} M  '
            f'inference {inf["img_per_s"]:8.2f} img/s '
            f'{_mib(inf["peak_mem_mib"])} MiB  '
            f'training {trn["img_per_s"]:8.2f} img/s '
            f'{trn["iter_per_s"]:8.3f} iter/s '
            f'{_mib(trn["peak_mem_mib"])} MiB'
        )
    ratios = {}
    first = results[0]
    for other in results[1:]:
        ratio = {
            f'{phase}_{what}': _ratio(first[phase][key], other[phase][key])
            for phase in ('infer', 'train')
            for what, key in (('time', 'median_s'), ('mem', 'peak_mem_mib'))
        }
        ratios[other['name']] = ratio
        pair = f'{first["name"]} / {other["name"]}'
        print(
            f'ratio {pair} (time): inference {ratio["infer_time"]:.2f}x, '
            f'training {ratio["train_time"]:.2f}x'
        )
        if ratio['infer_mem'] is not None and ratio['train_mem'] is not None:
            print(
                f'ratio {pair} (peak memory): inference '
                f'{ratio["infer_mem"]:.2f}x, training '
                f'{ratio["train_mem"]:.2f}x'
            )
    if args.out_json:
        report = dict(
            config=args.config,
            compare_config=args.compare_config,
            compare_mask2former=args.compare_mask2former,
            device=args.device,
            device_name=(
                torch.cuda.get_device_name(device)
                if device.type == 'cuda'
                else None
            ),
            amp=args.amp,
            shape=list(shape),
            batch_size=bs,
            warmup=args.warmup,
            iters=args.iters,
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            memory=meter.description,
            models=results,
            ratios=ratios,
        )
        out_dir = os.path.dirname(args.out_json)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        with open(args.out_json, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
