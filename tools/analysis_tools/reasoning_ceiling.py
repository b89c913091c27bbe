# Copyright (c) mmgres contributors. All rights reserved.
"""How far a tiny model gets on the synthetic benchmark with perfect
perception, for a given number of training samples: the ceiling that the
language and the spatial reasoning alone leave to a model trained from
scratch.

    python tools/analysis_tools/reasoning_ceiling.py data/synthetic_grefcoco \\
        [--samples 41600] [--batch-size 8] [--nt-weight 1] [--seeds 0 1 2] \\
        [--num-layers 3] [--embed-dims 64] [--lr 1e-3] [--out ceiling.json]

The model sees no pixels. Each object of the image is one token made of
the generator's record (``scenes.json``: shape, colour, size and the
centre that the spatial words are defined on); each word of the
expression is another token (the benchmark's word list). One transformer
encoder over both predicts, per object, whether the expression refers to
it, and, from a summary token placed before the words, whether the
expression refers to nothing. Training uses the split's expressions with
the same horizontal flip as the model configs (``left``/``right``
swapped in the text).

``--samples`` is the number of expressions the oracle trains on, counted
with repetition; ``--batch-size`` splits it into iterations. To compare
with a model, give it what that model sees in its time budget (epochs ×
expressions per epoch; the tiny InstAlign config sees about 41,500 in its
10 epochs).

The predicted mask of an expression is the union of the annotated masks
(``instances.json``) of the objects it picks, so the scores are those of a
model whose masks are exact; they are computed by the same arithmetic as
``GRESMetric`` (:func:`mmgres.evaluation.functional.compute_gres_metrics`).
The visible masks of one image do not overlap, so a union's area is the sum
of the objects' areas.
"""

import argparse
import json
import os.path as osp
import random
import time
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmgres.datasets.synthetic import COLOURS, SHAPES, SIZES, SYNTHETIC_VOCAB
from mmgres.datasets.transforms import swap_words
from mmgres.datasets.transforms.text_flip import HORIZONTAL_PAIRS
from mmgres.datasets.utils import decode_segmentation, load_coco, load_refs
from mmgres.evaluation.functional import (
    compute_grec_metrics,
    compute_gres_metrics,
    grec_sample,
)

MAX_WORDS = 32
WORD_IDS = {w: i + 1 for i, w in enumerate(SYNTHETIC_VOCAB)}  # 0: padding


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Reasoning ceiling of the synthetic benchmark'
    )
    parser.add_argument('data_root', help='the synthetic benchmark root')
    parser.add_argument(
        '--samples',
        type=int,
        default=41600,
        help='training expressions, with repetition (default: %(default)s)',
    )
    parser.add_argument(
        '--batch-size',
        type=int,
        default=8,
        help='expressions per step (default: %(default)s)',
    )
    parser.add_argument(
        '--nt-weight',
        type=float,
        default=1.0,
        help='weight of the no-target positives in the BCE, as the '
        'no-target weight of the model configs (default: %(default)s)',
    )
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0],
        help='train one oracle per seed and report mean and std '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--num-layers',
        type=int,
        default=3,
        help='transformer layers of the oracle (default: %(default)s)',
    )
    parser.add_argument(
        '--embed-dims',
        type=int,
        default=64,
        help='width of the oracle (default: %(default)s)',
    )
    parser.add_argument(
        '--lr',
        type=float,
        default=1e-3,
        help='peak AdamW learning rate of the one-cycle schedule '
        '(default: %(default)s)',
    )
    parser.add_argument(
        '--eval-interval',
        type=int,
        default=None,
        help='iterations between validations (default: a quarter of them)',
    )
    parser.add_argument(
        '--nt-thrs',
        type=float,
        nargs='+',
        default=[0.5],
        help='no-target probability thresholds the final model is scored '
        'at (default: 0.5)',
    )
    parser.add_argument('--split', default='val', help='evaluation split')
    parser.add_argument(
        '--no-flip',
        action='store_true',
        help='train without the horizontal flip of the model configs '
        '(left/right swapped in the expression)',
    )
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads (default: %(default)s)',
    )
    parser.add_argument('--out', help='write the results as JSON')
    return parser.parse_args(argv)


def load_split(data_root: str, split: str) -> List[Dict]:
    """One record per expression of ``split``.

    Each record holds the expression, the objects' attribute ids and
    centres (normalised), the objects' mask areas and boxes (xyxy), which
    objects the expression refers to, its no-target flag and its kind.
    """
    with open(osp.join(data_root, 'scenes.json')) as f:
        scenes = {s['image_id']: s for s in json.load(f)['images']}
    coco = load_coco(osp.join(data_root, 'instances.json'))
    refs = load_refs(osp.join(data_root, 'grefs(unc).json'), 'json')
    sizes = {i: (im['width'], im['height']) for i, im in coco.imgs.items()}
    areas, boxes = {}, {}
    for ann in coco.anns.values():
        w, h = sizes[ann['image_id']]
        mask = decode_segmentation(ann['segmentation'], h, w)
        areas[ann['id']] = int(mask.sum())
        x, y, bw, bh = ann['bbox']
        boxes[ann['id']] = [x, y, x + bw, y + bh]
    shape_ids = {s: i for i, s in enumerate(SHAPES)}
    colour_ids = {c: i for i, c in enumerate(COLOURS)}
    size_ids = {s: i for i, s in enumerate(SIZES)}
    records = []
    for ref in refs:
        if ref['split'] != split:
            continue
        scene = scenes[ref['image_id']]
        kinds = {s['sent_id']: s['kind'] for s in scene['sentences']}
        w, h = sizes[ref['image_id']]
        objs = scene['objects']
        missing = [a for a in ref['ann_id'] if a not in areas]
        if missing and not ref['no_target']:
            raise KeyError(
                f'ref {ref["ref_id"]} points at missing annotations {missing}'
            )
        targets = set() if ref['no_target'] else set(ref['ann_id'])
        attrs = [
            (
                shape_ids[o['shape']],
                colour_ids[o['colour']],
                size_ids[o['size']],
            )
            for o in objs
        ]
        centres = [(o['cx'] / w, o['cy'] / h) for o in objs]
        for sent in ref['sentences']:
            words = sent['sent'].lower().split()
            unknown = [x for x in words if x not in WORD_IDS]
            if unknown or not words or len(words) >= MAX_WORDS:
                raise ValueError(
                    f'sentence {sent["sent_id"]} ({sent["sent"]!r}): '
                    'expected 1 to '
                    f'{MAX_WORDS - 1} words of the synthetic vocabulary'
                    + (f', unknown: {unknown}' if unknown else '')
                )
            records.append(
                dict(
                    text=' '.join(words),
                    attrs=attrs,
                    centres=centres,
                    areas=[areas[o['ann_id']] for o in objs],
                    boxes=[boxes[o['ann_id']] for o in objs],
                    target=[float(o['ann_id'] in targets) for o in objs],
                    no_target=bool(ref['no_target']),
                    kind=kinds.get(sent['sent_id'], 'unknown'),
                )
            )
    if not records:
        raise ValueError(f'no expressions of split {split!r} in {data_root}')
    return records


class ReasoningOracle(nn.Module):
    """Words and ground-truth objects through one transformer encoder.

    Args:
        embed_dims (int): Token width.
        num_layers (int): Encoder layers.
        num_heads (int): Attention heads.
    """

    def __init__(
        self, embed_dims: int = 64, num_layers: int = 3, num_heads: int = 4
    ) -> None:
        super().__init__()
        d = embed_dims
        self.word = nn.Embedding(len(SYNTHETIC_VOCAB) + 1, d, padding_idx=0)
        self.word_pos = nn.Embedding(MAX_WORDS, d)
        self.token_type = nn.Embedding(2, d)
        self.summary = nn.Parameter(torch.zeros(1, 1, d))
        self.shape = nn.Embedding(len(SHAPES), d)
        self.colour = nn.Embedding(len(COLOURS), d)
        self.size = nn.Embedding(len(SIZES), d)
        self.centre = nn.Sequential(
            nn.Linear(2, d), nn.ReLU(), nn.Linear(d, d)
        )
        layer = nn.TransformerEncoderLayer(
            d, num_heads, 4 * d, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, enable_nested_tensor=False
        )
        self.object_logit = nn.Linear(d, 1)
        self.no_target_logit = nn.Linear(d, 1)

    def forward(self, batch: Dict[str, torch.Tensor]):
        """Returns the object logits (B, O) and no-target logits (B,)."""
        words = batch['words']
        num_words = words.shape[1]
        w = (
            self.word(words)
            + self.word_pos.weight[:num_words]
            + self.token_type.weight[0]
        )
        attrs = batch['attrs']
        o = (
            self.shape(attrs[..., 0])
            + self.colour(attrs[..., 1])
            + self.size(attrs[..., 2])
            + self.centre(batch['centres'])
            + self.token_type.weight[1]
        )
        summary = self.summary.expand(len(words), -1, -1)
        keep = torch.ones_like(batch['word_mask'][:, :1])
        pad = ~torch.cat([keep, batch['word_mask'], batch['object_mask']], 1)
        x = self.encoder(
            torch.cat([summary, w, o], 1), src_key_padding_mask=pad
        )
        return (
            self.object_logit(x[:, 1 + num_words :]).squeeze(-1),
            self.no_target_logit(x[:, 0]).squeeze(-1),
        )


def collate(records: Sequence[Dict], flip: bool = False) -> Dict:
    """Pad a batch; with ``flip`` each record is mirrored with p = 0.5
    (centres ``x -> 1 - x``, ``left``/``right`` swapped)."""
    n, num_obj = len(records), max(len(r['attrs']) for r in records)
    texts, centres = [], []
    for r in records:
        c = np.asarray(r['centres'], np.float32).reshape(-1, 2)
        text = r['text']
        if flip and random.random() < 0.5:
            text = swap_words(text, HORIZONTAL_PAIRS)
            c = np.stack([1.0 - c[:, 0], c[:, 1]], 1)
        texts.append([WORD_IDS[x] for x in text.split()])
        centres.append(c)
    num_words = max(len(t) for t in texts)
    batch = dict(
        words=torch.zeros(n, num_words, dtype=torch.long),
        word_mask=torch.zeros(n, num_words, dtype=torch.bool),
        attrs=torch.zeros(n, num_obj, 3, dtype=torch.long),
        centres=torch.zeros(n, num_obj, 2),
        object_mask=torch.zeros(n, num_obj, dtype=torch.bool),
        target=torch.zeros(n, num_obj),
        no_target=torch.tensor([float(r['no_target']) for r in records]),
    )
    for i, (r, t, c) in enumerate(zip(records, texts, centres)):
        k = len(r['attrs'])
        batch['words'][i, : len(t)] = torch.tensor(t)
        batch['word_mask'][i, : len(t)] = True
        batch['attrs'][i, :k] = torch.tensor(r['attrs'])
        batch['centres'][i, :k] = torch.from_numpy(c)
        batch['object_mask'][i, :k] = True
        batch['target'][i, :k] = torch.tensor(r['target'])
    return batch


def gres_record(
    record: Dict, picked: Sequence[bool], pred_no_target: bool
) -> tuple:
    """The ``GRESMetric`` record of one prediction: the predicted mask is
    the union of the picked objects' masks (empty when "no target").

    Example:
        Objects of 10, 20 and 30 pixels, the expression refers to the
        second; the model picks the first two:

        >>> rec = dict(areas=[10, 20, 30], target=[0, 1, 0],
        ...            no_target=False)
        >>> gres_record(rec, [True, True, False], False)
        (0, 0, 20, 30, 20)
    """
    areas = record['areas']
    pred = [bool(p) and not pred_no_target for p in picked]
    gt = [t > 0 for t in record['target']]
    inter = sum(a for a, p, g in zip(areas, pred, gt) if p and g)
    return (
        int(record['no_target']),
        int(pred_no_target),
        inter,
        sum(a for a, p in zip(areas, pred) if p),
        sum(a for a, g in zip(areas, gt) if g),
    )


def grec_record(
    record: Dict, picked: Sequence[bool], pred_no_target: bool
) -> tuple:
    """The ``GRECMetric`` record of one prediction: the annotated boxes of
    the picked objects (none when "no target"), matched at GIoU 0.5 and
    0.7."""
    kept = [
        b for b, p in zip(record['boxes'], picked) if p and not pred_no_target
    ]
    gt = [b for b, t in zip(record['boxes'], record['target']) if t > 0]
    num_kept, num_gt, tps = grec_sample(
        np.asarray(kept, np.float32).reshape(-1, 4),
        np.ones(len(kept), np.float32),
        np.asarray(gt, np.float32).reshape(-1, 4),
        iou_thrs=(0.5, 0.7),
    )
    return (int(record['no_target']), num_kept, num_gt, *tps)


@torch.no_grad()
def evaluate(
    model: ReasoningOracle,
    records: Sequence[Dict],
    grec: bool = False,
    nt_thr: float = 0.5,
) -> Dict:
    """GRES metrics of the oracle on ``records``, overall and by kind;
    with ``grec``, also ``GRECMetric``'s (under ``'grec'``). "No target"
    when the no-target probability exceeds ``nt_thr``."""
    nt_logit_thr = float(np.log(nt_thr / (1 - nt_thr)))
    was_training = model.training
    model.eval()
    rows, by_kind, grec_rows = [], defaultdict(list), []
    for start in range(0, len(records), 64):
        chunk = records[start : start + 64]
        obj_logit, nt_logit = model(collate(chunk))
        for i, r in enumerate(chunk):
            picked = (obj_logit[i, : len(r['attrs'])] > 0).tolist()
            pred_nt = bool(nt_logit[i] > nt_logit_thr)
            row = gres_record(r, picked, pred_nt)
            rows.append(row)
            by_kind[r['kind']].append(row)
            if grec:
                grec_rows.append(grec_record(r, picked, pred_nt))
    model.train(was_training)
    out = compute_gres_metrics(rows)
    if grec:
        out['grec'] = compute_grec_metrics(grec_rows, iou_thrs=(0.5, 0.7))
    out['by_kind'] = {
        k: compute_gres_metrics(v) for k, v in sorted(by_kind.items())
    }
    return out


def train_one(
    train: List[Dict], val: List[Dict], args: argparse.Namespace, seed: int
) -> Dict:
    """Train one oracle; returns its curve and final metrics."""
    random.seed(seed)
    torch.manual_seed(seed)
    model = ReasoningOracle(args.embed_dims, args.num_layers)
    iters = max(1, args.samples // args.batch_size)
    optim = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, args.lr, total_steps=iters, pct_start=0.05
    )
    interval = args.eval_interval or max(1, iters // 4)
    nt_weight = torch.tensor(args.nt_weight)
    curve, it, start = [], 0, time.perf_counter()
    order = list(range(len(train)))
    while it < iters:
        random.shuffle(order)
        for k in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = collate(
                [train[j] for j in order[k : k + args.batch_size]],
                flip=not args.no_flip,
            )
            obj_logit, nt_logit = model(batch)
            mask = batch['object_mask'].float()
            loss_obj = F.binary_cross_entropy_with_logits(
                obj_logit, batch['target'], reduction='none'
            )
            loss = (loss_obj * mask).sum() / mask.sum()
            loss = loss + F.binary_cross_entropy_with_logits(
                nt_logit, batch['no_target'], pos_weight=nt_weight
            )
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            it += 1
            if it % interval == 0 or it == iters:
                m = evaluate(model, val)
                curve.append(
                    dict(
                        iter=it,
                        samples=it * args.batch_size,
                        **{
                            k: m[k] for k in ('gIoU', 'cIoU', 'N_acc', 'T_acc')
                        },
                    )
                )
                print(
                    f'seed {seed} iter {it}/{iters} '
                    f'({it * args.batch_size} samples, '
                    f'{time.perf_counter() - start:.0f} s): '
                    + ', '.join(
                        f'{k} {m[k]:.2f}'
                        for k in ('gIoU', 'cIoU', 'N_acc', 'T_acc')
                    ),
                    flush=True,
                )
            if it >= iters:
                break
    sweep = {
        thr: evaluate(model, val, True, thr) for thr in sorted(args.nt_thrs)
    }
    final = sweep.get(0.5) or evaluate(model, val, True)
    return dict(seed=seed, curve=curve, final=final, nt_sweep=sweep)


def summarise(runs: List[Dict]) -> Dict[str, Dict[str, float]]:
    """Mean and sample standard deviation over the runs' final metrics."""
    out = {}
    keys = [(k, None) for k in ('gIoU', 'cIoU', 'N_acc', 'T_acc')]
    keys += [(k, 'grec') for k in ('F1score@0.5', 'F1score@0.7')]
    for key, group in keys:
        vals = np.array(
            [(r['final'][group] if group else r['final'])[key] for r in runs],
            np.float64,
        )
        std = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        out[f'{group}/{key}' if group else key] = dict(
            mean=float(vals.mean()), std=std
        )
    return out


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    if args.samples < 1 or args.batch_size < 1:
        raise ValueError('--samples and --batch-size must be positive')
    if not all(0 < t < 1 for t in args.nt_thrs):
        raise ValueError('--nt-thrs must lie strictly between 0 and 1')
    torch.set_num_threads(args.threads)
    train = load_split(args.data_root, 'train')
    val = load_split(args.data_root, args.split)
    if len(train) < args.batch_size:
        raise ValueError(
            f'{len(train)} training expressions, fewer than one batch'
        )
    print(
        f'{len(train)} training and {len(val)} {args.split} expressions; '
        f'{args.samples} training samples in batches of {args.batch_size}'
    )
    runs = [train_one(train, val, args, seed) for seed in args.seeds]
    summary = summarise(runs)
    print(
        'final, mean ± std over seeds '
        f'{args.seeds}: '
        + ', '.join(
            f'{k} {v["mean"]:.2f} ± {v["std"]:.2f}' for k, v in summary.items()
        )
    )
    if len(args.nt_thrs) > 1:
        print('no-target threshold sweep (last seed): gIoU / N_acc / T_acc')
        for thr, m in runs[-1]['nt_sweep'].items():
            print(
                f'  {thr:.2f}: {m["gIoU"]:.2f} / {m["N_acc"]:.2f} / '
                f'{m["T_acc"]:.2f}'
            )
    print('by kind (last seed): gIoU / N_acc')
    for kind, m in runs[-1]['final']['by_kind'].items():
        print(f'  {kind:16s} {m["gIoU"]:6.2f} / {m["N_acc"]:6.2f}')
    result = dict(args=vars(args), runs=runs, summary=summary)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
