# Copyright (c) mmgres contributors. All rights reserved.
"""Train a config's full-size model on a handful of samples until it fits
them: a model that cannot fit 4 samples has a bug (a loss that does not
reach a part, a wrong target, a frozen part that should learn).

    python tools/analysis_tools/overfit.py CONFIG [--num-samples 4]
        [--data-root DIR] [--shape H W] [--iters 300] [--lr 1e-4]
        [--load-from CKPT] [--target-giou 0.9] [--target-f1 0.9]
        [--eval-every 25] [--shrink-llm] [--out-json FILE]
        [--cfg-options ...]

Data: the config's training dataset (its type and files) at ``--data-root``,
or by default a small synthetic gRefCOCO set (RefCOCO layout for a RefCOCO
config) written by ``generate_synthetic_grefcoco`` into a temporary
directory. The samples are chosen to mix the kinds of expressions (a
multi-target one, a no-target one, single-target ones), one per image while
images last. The config's pipelines are used without the transforms that
change a sample from one epoch to the next (random flips, crops, resizes,
colour changes) and with Resize set to ``--shape``; the training dataset
yields every sentence (``text_mode='all'``).

Model: the config's model with random weights (no pretrained backbone or
text encoder is loaded) unless ``--load-from`` names an mmgres checkpoint,
which is loaded as ``load_from`` is by tools/train.py. Inputs of a fixed
size in the model (BEiT-3's and the ViT's ``img_size``, SAM's image size)
follow ``--shape``. A tokenizer that cannot be loaded (no hub, no local
file) gives way to an in-memory word-level one over the samples' words.
``--shrink-llm`` (GSVA) replaces the Llama of LLaVA with a small random one
of the same architecture (the CLIP tower, the LoRA, the trainable modules
and the freezing stay the config's). SAM's size is the config's; for a
smaller one: ``--cfg-options model.mask_head.segmentor.model_cfg=
sam-vit-base``. Weights are float32 (the bf16 of a config is for GPUs;
DeepSpeed keeps float32 master weights anyway).

Training: one batch of all the samples per iteration, the config's
optimizer type, parameter-wise settings and gradient clipping, with a fixed
learning rate ``--lr`` (no schedule). Every ``--eval-every`` iterations the
model predicts the same samples in eval mode (the config's test pipeline)
and mmgres' GRESMetric (and GRECMetric when the config evaluates boxes,
with the config's settings) scores them; training stops when the targets
are met. The loss of every iteration and each evaluation go to
``--out-json``.
"""

import argparse
import copy
import json
import logging
import os.path as osp
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from mmgres.registry import DATASETS, MODELS, TOKENIZER
from mmgres.utils import hub_offline, register_all_modules

#: Transforms that change a sample between epochs (dropped here).
AUGMENTATIONS = (
    'PhotoMetricDistortion',
    'Mosaic',
    'MixUp',
    'CachedMosaic',
    'CachedMixUp',
    'YOLOXHSVRandomAug',
    'FixShapeResize',
    'ColorJitter',
)

#: The Llama of ``--shrink-llm`` (ours): LLaMA's architecture (RMSNorm,
#: SwiGLU, rotary positions, multi-head attention) at width 256, 4 layers.
SHRUNK_LLAMA = dict(
    hidden_size=256,
    intermediate_size=688,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=4,
)

#: Images per split of the default synthetic set (enough for the choice).
SYNTHETIC_IMAGES = dict(train=12, val=0, testA=0, testB=0)


def parse_args():
    parser = argparse.ArgumentParser(
        description="Fit a config's full-size model to a few samples"
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--num-samples',
        type=int,
        default=4,
        help='training samples, all in one batch (default: %(default)s)',
    )
    parser.add_argument(
        '--data-root',
        default=None,
        help="root of the config's training dataset (its files and image "
        'prefix); default: a synthetic gRefCOCO set in a temporary directory',
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=None,
        metavar='SIZE',
        help="input size H W (or one size for both) of the pipelines' "
        "Resize and of the model's fixed-size inputs; default: the config's",
    )
    parser.add_argument(
        '--iters',
        type=int,
        default=300,
        help='most training iterations (default: %(default)s)',
    )
    parser.add_argument(
        '--lr',
        type=float,
        default=None,
        help="fixed base learning rate (no schedule); the config's "
        "parameter-wise multipliers still apply (default: the config's lr)",
    )
    parser.add_argument(
        '--load-from',
        default=None,
        help='an mmgres checkpoint to start from (default: random weights)',
    )
    parser.add_argument(
        '--target-giou',
        type=float,
        default=0.9,
        help='stop when the train-set GRES gIoU (0-1) reaches this '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--target-f1',
        type=float,
        default=0.9,
        help='and, when the config scores boxes, the GREC F1 (0-1, at IoU '
        '0.5) reaches this (default: %(default)s)',
    )
    parser.add_argument(
        '--eval-every',
        type=int,
        default=25,
        help='score the samples every this many iterations '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--shrink-llm',
        action='store_true',
        help="GSVA: a small random Llama (width 256, 4 layers) in LLaVA's "
        'place of the 7B/13B one; the rest of the model is kept',
    )
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)'
    )
    parser.add_argument(
        '--out-json', default=None, help='write the curve and metrics here'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings in the config, as key=value pairs',
    )
    return parser.parse_args()


# ------------------------------------------------------------------- data
def _is_augmentation(transform: dict) -> bool:
    name = str(transform.get('type', '')).split('.')[-1]
    return name.startswith('Random') or name in AUGMENTATIONS


def fixed_pipeline(pipeline, shape=None) -> list:
    """``pipeline`` without its augmentations, Resize set to ``shape``."""
    out = []
    for t in pipeline:
        t = copy.deepcopy(dict(t))
        if _is_augmentation(t):
            continue
        if shape is not None and t.get('type') == 'Resize':
            t['scale'] = (shape[1], shape[0])  # mmcv: (w, h)
            t.pop('scale_factor', None)
        out.append(t)
    return out


def _unwrap(ds):
    """The first dataset inside dataset wrappers."""
    ds = copy.deepcopy(ds)
    while 'datasets' in ds or 'dataset' in ds:
        ds = ds.datasets[0] if 'datasets' in ds else ds.dataset
    return ds


def dataset_cfg(cfg, data_root=None) -> dict:
    """The config's training dataset (every sentence) at ``data_root``, or
    at a new synthetic set when ``data_root`` is None."""
    ds = _unwrap(cfg.train_dataloader.dataset)
    if data_root is None:
        from mmgres.datasets.synthetic import generate_synthetic_grefcoco

        root = tempfile.mkdtemp(prefix='overfit_synthetic_')
        generate_synthetic_grefcoco(
            root, num_images=SYNTHETIC_IMAGES, progress=False
        )
        if 'refs_file' in ds or ds['type'] == 'GRefCOCODataset':
            ds.update(refs_file='grefs(unc).json', data_root=root)
            ds.data_prefix = dict(img_path='images/')
        else:  # the RefCOCO layout (refs(unc).p)
            ds.update(data_root=osp.join(root, 'refcoco'), split_by='unc')
            ds.data_prefix = dict(img_path='../images/')
        ds.ann_file = 'instances.json'
        ds.split = 'train'
    else:
        ds.data_root = data_root
    if 'text_mode' in ds:
        ds.text_mode = 'all'
    ds.pop('test_mode', None)
    return ds


def select_samples(dataset, num: int) -> list:
    """Indices of ``num`` samples, in turn a multi-target, a no-target and
    single-target ones, each from an unused image while possible."""
    kinds = dict(multi=[], none=[], single=[])
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        n = len(info.get('instances', []))
        kind = 'none' if info.get('no_target') or n == 0 else None
        kinds[kind or ('multi' if n > 1 else 'single')].append(i)
    order = ['multi', 'none'] + ['single'] * max(num, 1)
    chosen, images = [], set()
    while len(chosen) < min(num, len(dataset)):
        for kind in order + list(kinds):
            left = [i for i in kinds[kind] if i not in chosen]
            fresh = [
                i
                for i in left
                if dataset.get_data_info(i)['img_path'] not in images
            ]
            pick = (fresh or left or [None])[0]
            if pick is not None and len(chosen) < num:
                chosen.append(pick)
                images.add(dataset.get_data_info(pick)['img_path'])
        order = []
    return sorted(chosen)


# ------------------------------------------------------------------ model
def _sample_words(texts) -> list:
    return sorted({w for t in texts for w in t.lower().split()})


def _tokenizer_available(tokenizer_cfg) -> bool:
    try:
        TOKENIZER.build(copy.deepcopy(dict(tokenizer_cfg)))
        return True
    except Exception:  # no hub, no local file: any loader error
        return False


def offline_model_cfg(model_cfg, shape, words, shrink_llm=False):
    """``model_cfg`` with random weights (nothing pretrained is loaded),
    its fixed-size inputs at ``shape`` and stand-ins for the tokenizers
    that cannot be loaded."""
    cfg = copy.deepcopy(model_cfg)

    def visit(node):
        if isinstance(node, (list, tuple)):
            for v in node:
                visit(v)
            return
        if not isinstance(node, dict):
            return
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        kind = str(node.get('type', '')).split('.')[-1]
        if kind == 'HFTextEncoder':
            node['pretrained'] = False  # tokenizer: ensure_offline_tokenizer
        elif kind == 'BEiT3':
            node['pretrained'] = None
            if shape is not None:
                node['img_size'] = shape[0]
            if not _tokenizer_available(node['tokenizer']):
                node['tokenizer'] = dict(
                    type='WordPieceTokenizer', vocab=words
                )
        elif kind == 'VisionTransformer' and shape is not None:
            node['img_size'] = tuple(shape)
        elif kind == 'LlavaMLLM':
            _offline_llava(node, words, shrink_llm)
        elif kind == 'HFSamSegmentor':
            _offline_sam(node, shape)
        for v in node.values():
            visit(v)

    visit(cfg)
    return cfg


def _offline_llava(node, words, shrink_llm):
    from mmgres.models.mllm.llava import KNOWN_LLAVA_ARCHS, LlavaMLLM

    tokenizer = LlavaMLLM._resolve_tokenizer_cfg(
        node.get('tokenizer'), node.get('name_or_path')
    )
    if not _tokenizer_available(tokenizer):
        tokenizer = dict(type='WordLevelTokenizer', words=words)
    node['tokenizer'] = tokenizer
    arch = node.get('model_cfg') or node.get('name_or_path')
    if isinstance(arch, str):
        name = arch if arch in KNOWN_LLAVA_ARCHS else osp.basename(arch)
        if name not in KNOWN_LLAVA_ARCHS:
            raise ValueError(
                f'No known LLaVA architecture for {arch!r}; give '
                'model.mllm.model_cfg.'
            )
        arch = copy.deepcopy(KNOWN_LLAVA_ARCHS[name])
    arch = copy.deepcopy(dict(arch))
    if shrink_llm:
        arch['text_config'] = dict(arch['text_config'], **SHRUNK_LLAMA)
    # Activation checkpointing only saves memory; with it, HF's
    # enable_input_require_grads hooks the CLIP tower's patch embedding too,
    # so that the frozen tower is back-propagated (and recomputed) at every
    # step: off here, where memory is no concern.
    node.update(
        pretrained=False,
        model_cfg=arch,
        torch_dtype=None,
        gradient_checkpointing=False,
    )


def _offline_sam(node, shape):
    from mmgres.models.segmentors.sam import KNOWN_SAM_ARCHS

    arch = node.get('model_cfg') or node.get('name_or_path')
    if isinstance(arch, str):
        arch = KNOWN_SAM_ARCHS[arch]
    arch = copy.deepcopy(dict(arch))
    vision = dict(arch['vision_config'])
    # HF's SamVisionConfig initialises with std 1e-10, which leaves a
    # random image encoder's output ~0: SAM's ViT init (std 0.02) instead
    vision.setdefault('initializer_range', 0.02)
    if shape is not None:
        size = max(shape)
        vision['image_size'] = size
        prompt = dict(arch.get('prompt_encoder_config', {}))
        prompt['image_size'] = size
        arch['prompt_encoder_config'] = prompt
    arch['vision_config'] = vision
    node.update(pretrained=False, model_cfg=arch, torch_dtype=None)


def optim_cfg(cfg, lr: float) -> dict:
    """The config's optimizer and parameter-wise settings in a plain
    ``OptimWrapper`` at the fixed ``lr`` (DeepSpeed's clipping kept)."""
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    wrapper.type = 'OptimWrapper'
    for key in ('accumulative_counts', 'loss_scale', 'dtype'):
        wrapper.pop(key, None)
    if lr is not None:
        wrapper.optimizer.lr = lr
    clip = cfg.get('strategy', {}).get('gradient_clipping')
    if clip and not wrapper.get('clip_grad'):
        wrapper.clip_grad = dict(max_norm=float(clip), norm_type=2)
    return wrapper


def evaluator_cfg(cfg) -> list:
    """The config's GRESMetric (default one if none) and GRECMetric."""
    val = cfg.get('val_evaluator') or []
    val = list(val) if isinstance(val, (list, tuple)) else [val]
    kept = [
        copy.deepcopy(e)
        for e in val
        if str(e.get('type')).split('.')[-1] in ('GRESMetric', 'GRECMetric')
    ]
    if not any(e['type'].endswith('GRESMetric') for e in kept):
        kept.insert(0, dict(type='GRESMetric'))
    return kept


def targets(metrics: dict, giou: float, f1: float) -> dict:
    """The metrics that decide the fit and their targets (percent)."""
    out = {'gres/gIoU': 100 * giou}
    f1_keys = sorted(k for k in metrics if k.startswith('grec/F1score@'))
    if f1_keys:
        key = 'grec/F1score@0.5' if 'grec/F1score@0.5' in f1_keys else None
        out[key or f1_keys[0]] = 100 * f1
    return out


# ------------------------------------------------------------------- loop
class Overfitter:
    """Trains ``model`` on one fixed batch and scores it on the same
    samples loaded by the test pipeline, as a whole and one by one."""

    def __init__(self, model, train_items, eval_items, optim, metrics):
        self.model = model
        self.train_items = train_items
        self.eval_items = eval_items
        self.optim = optim
        self.metrics = metrics  # evaluator configs
        self.dataset_meta = None

    @staticmethod
    def _batch(items):
        return pseudo_collate(copy.deepcopy(items))

    def step(self) -> dict:
        self.model.train()
        data = self.model.data_preprocessor(
            self._batch(self.train_items), True
        )
        losses = self.model(**data, mode='loss')
        loss, log_vars = self.model.parse_losses(losses)
        self.optim.update_params(loss)
        return {
            k: float(torch.as_tensor(v).detach()) for k, v in log_vars.items()
        }

    def _score(self, outputs, batch) -> dict:
        with DefaultScope.overwrite_default_scope('mmgres'):
            evaluator = Evaluator(copy.deepcopy(self.metrics))
        evaluator.dataset_meta = self.dataset_meta
        evaluator.process(data_samples=outputs, data_batch=batch)
        return {
            k: float(v) for k, v in evaluator.evaluate(len(outputs)).items()
        }

    def evaluate(self) -> tuple:
        """The metrics of all the samples, and of each (with its
        no-target decision and the scores of its predicted instances)."""
        self.model.eval()
        batch = self._batch(self.eval_items)
        with torch.no_grad():
            outputs = self.model.test_step(batch)
        metrics = self._score(outputs, batch)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # no log line per sample
        per_sample = []
        for out in outputs:
            one = self._score([out], None)
            one['pred_no_target'] = bool(out.get('pred_no_target', False))
            pred = out.get('pred_instances', None)
            scores = getattr(pred, 'scores', None) if pred else None
            if scores is not None:
                one['scores'] = [round(float(v), 3) for v in scores[:10]]
            per_sample.append(one)
        logger.setLevel(level)
        return metrics, per_sample


def _shape(args):
    if args.shape is None:
        return None
    if len(args.shape) not in (1, 2):
        raise SystemExit('--shape takes H W or one size')
    return (
        tuple(args.shape * 2)[:2]
        if len(args.shape) == 1
        else tuple(args.shape)
    )


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    shape = _shape(args)
    hub_offline()  # a missing hub decides once, without retries
    torch.manual_seed(args.seed)

    with DefaultScope.overwrite_default_scope('mmgres'):
        ds = dataset_cfg(cfg, args.data_root)
        test_pipeline = _unwrap(cfg.val_dataloader.dataset).pipeline
        ds.pipeline = fixed_pipeline(ds.pipeline, shape)
        train_set = DATASETS.build(ds)
        indices = select_samples(train_set, args.num_samples)
        ds.pipeline = fixed_pipeline(test_pipeline, shape)
        eval_set = DATASETS.build(ds)
        train_items = [train_set[i] for i in indices]
        eval_items = [eval_set[i] for i in indices]
        infos = [train_set.get_data_info(i) for i in indices]
        texts = [info['text'] for info in infos]

        model_cfg = cfg.model
        if args.load_from is None:
            model_cfg = offline_model_cfg(
                model_cfg, shape, _sample_words(texts), args.shrink_llm
            )
        elif args.shrink_llm:
            raise SystemExit('--shrink-llm needs random weights')
        model = MODELS.build(model_cfg)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # not the value of every weight
        model.init_weights()
        logger.setLevel(level)
        if args.load_from is not None:
            from mmengine.runner import load_checkpoint

            load_checkpoint(model, args.load_from, map_location='cpu')
        from mmgres.testing import ensure_offline_tokenizer

        ensure_offline_tokenizer(model, texts)
        optim_wrapper = optim_cfg(cfg, args.lr)
        optim = build_optim_wrapper(model, optim_wrapper)
    runner = Overfitter(
        model, train_items, eval_items, optim, evaluator_cfg(cfg)
    )
    runner.dataset_meta = train_set.metainfo

    lr = optim_wrapper.optimizer.lr
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    samples = [
        dict(
            index=i,
            text=info['text'],
            num_targets=len(info.get('instances', [])),
            no_target=bool(info.get('no_target', False)),
            img_path=osp.basename(info['img_path']),
        )
        for i, info in zip(indices, infos)
    ]
    input_shape = tuple(train_items[0]['inputs'].shape[-2:])
    print(
        f'{args.config}: {type(model).__name__}, {params / 1e6:.1f} M '
        f'parameters ({trainable / 1e6:.1f} M trained), input '
        f'{input_shape[0]}x{input_shape[1]}, {len(samples)} samples, lr '
        f'{lr:g}, {torch.get_num_threads()} threads',
        flush=True,
    )
    for s in samples:
        print(f'  {s}', flush=True)

    losses, terms, evals = [], {}, []
    start = time.perf_counter()
    result = dict(
        config=args.config,
        model=type(model).__name__,
        params=params,
        trainable_params=trainable,
        input_shape=list(input_shape),
        lr=lr,
        load_from=args.load_from,
        shrink_llm=args.shrink_llm,
        samples=samples,
        iters=0,
        time_s=0.0,
        loss=losses,
        loss_terms=terms,
        evals=evals,
        targets={},
        fitted=False,
    )
    for it in range(1, args.iters + 1):
        t = time.perf_counter()
        log = runner.step()
        losses.append(log['loss'])
        for k, v in log.items():
            if k != 'loss':
                terms.setdefault(k, []).append(v)
        print(
            f'iter {it:4d}  loss {log["loss"]:.4f}  '
            f'({time.perf_counter() - t:.1f} s)',
            flush=True,
        )
        if it % args.eval_every and it != args.iters:
            continue
        metrics, per_sample = runner.evaluate()
        goal = targets(metrics, args.target_giou, args.target_f1)
        fitted = all(metrics.get(k, -1) >= v for k, v in goal.items())
        elapsed = round(time.perf_counter() - start, 1)
        evals.append(
            dict(iter=it, time_s=elapsed, **metrics, per_sample=per_sample)
        )
        result.update(iters=it, time_s=elapsed, targets=goal, fitted=fitted)
        if args.out_json:  # after every evaluation: a long run can be read
            with open(args.out_json, 'w') as f:
                json.dump(result, f, indent=1)
        shown = ', '.join(f'{k} {metrics[k]:.1f}' for k in goal)
        print(f'eval at iter {it}: {shown}' + ('  fitted' if fitted else ''))
        if fitted:
            break

    print(
        f'{"fitted" if result["fitted"] else "NOT fitted"} after '
        f'{result["iters"]} iterations, {result["time_s"] / 60:.1f} min; '
        f'loss {losses[0]:.3f} -> {losses[-1]:.3f}'
    )


if __name__ == '__main__':
    main()
