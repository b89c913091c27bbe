# Copyright (c) mmgres contributors. All rights reserved.
"""Ground referring expressions in an image and draw the result.

    python demo/image_demo.py IMG CONFIG --weights CKPT \
        --texts "the red circle" "all blue shapes" [--out-dir outputs]

IMG may be a file or a folder of images. For each (image, expression) it
writes ``<out-dir>/vis/<image>_<k>.jpg`` (instances in distinct colours,
their boxes, the expression, and a "NO TARGET" banner, with no mask, when
nothing matches; images larger than ``--max-draw-size`` are drawn scaled
down to it)
and, with ``--save-json``, ``<out-dir>/preds/<image>.json`` (RLE masks).
CONFIG may also be a model name of ``model-index.yml``.

A folder shows a progress bar. A file in it that cannot be read is reported,
skipped and listed at the end; the script then exits with status 1, after
writing the results of the other images.
"""

import argparse
import os.path as osp
import sys

from mmgres.apis import GroundingInferencer


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file or folder')
    parser.add_argument(
        'config', help='model config, or a model name of model-index.yml'
    )
    parser.add_argument('--weights', help='checkpoint file')
    parser.add_argument(
        '--texts', nargs='+', required=True, help='referring expression(s)'
    )
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--device', default=None)
    parser.add_argument('--score-thr', type=float, default=0.5)
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--show', action='store_true')
    parser.add_argument(
        '--max-draw-size',
        type=int,
        default=2048,
        help='draw larger images scaled down to this longer side (the '
        'saved drawing has that size); 0: draw at full size',
    )
    parser.add_argument('--save-json', action='store_true')
    return parser.parse_args()


def main():
    args = parse_args()
    inferencer = GroundingInferencer(
        args.config, weights=args.weights, device=args.device
    )
    imgs = inferencer._inputs_to_list(args.img)
    out = inferencer(
        args.img,  # a folder gets a progress bar
        texts=[list(args.texts)] * len(imgs),
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        no_save_pred=not args.save_json,
        show=args.show,
        pred_score_thr=args.score_thr,
        max_draw_size=args.max_draw_size,
    )
    for img, preds in zip(imgs, out['predictions']):
        if preds is None:  # listed below
            continue
        stem = osp.splitext(osp.basename(img))[0]
        if preds and 'answer' in preds[0]:  # dialogue models (GSVA)
            print(f'{stem} | answer: {preds[0]["answer"]}')
        for p in preds:
            answer = (
                'no target'
                if p['no_target']
                else f'{len(p["instances"])} instance(s)'
            )
            print(
                f'{stem} | {p["text"]!r}: {answer} '
                f'(no-target prob {p["nt_score"]:.2f})'
            )
    print(f'drawings in {osp.join(args.out_dir, "vis")}')
    if args.save_json:
        print(f'predictions in {osp.join(args.out_dir, "preds")}')
    if out['failed']:
        print(f'{len(out["failed"])} of {len(imgs)} image(s) failed:')
        for f in out['failed']:
            print(f'  {f["input"]}: {f["error"]}')
        sys.exit(1)


if __name__ == '__main__':
    main()
