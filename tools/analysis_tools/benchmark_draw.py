# Copyright (c) mmgres contributors. All rights reserved.
"""Peak memory and time of inference and of drawing on a large image.

Three measurements, each in its own process so that one's allocations do
not hide the next one's peak:

- ``inference``: ``GroundingInferencer`` on an N×N image file (a tiny model
  with random weights by default), without drawing;
- ``draw-full``: ``GroundingLocalVisualizer.add_datasample`` of a
  prediction at the image's size (three instance masks, their boxes and
  the merged mask, N×N each), drawn at full size and written to a JPEG, as
  ``demo/image_demo.py`` does;
- ``draw-bounded``: the same drawn with ``max_draw_size`` (2048).

Each process first builds what its step needs (model, image, prediction),
then resets the kernel's peak-RSS counter (``/proc/self/clear_refs``) and
runs the step. Reported: wall time, the peak RSS during the step, the RSS
before it, and the peak's ratio to inference's. Without a resettable
counter the process's lifetime peak (``ru_maxrss``) is reported instead.

Example::

    python tools/analysis_tools/benchmark_draw.py --size 8000
"""

import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

DEFAULT_CONFIG = (
    'configs/instalign/instalign_tiny_1xb8-8e_synthetic-grefcoco.py'
)
STEPS = ('inference', 'draw-full', 'draw-bounded')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Peak RSS and time of inference and drawing'
    )
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config of the model (default: %(default)s)',
    )
    parser.add_argument(
        '--weights', help='checkpoint; default: random weights'
    )
    parser.add_argument(
        '--size', type=int, default=8000, help='the image is size x size'
    )
    parser.add_argument(
        '--max-draw-size',
        type=int,
        default=2048,
        help='max_draw_size of the draw-bounded step (default: %(default)s)',
    )
    parser.add_argument(
        '--text', default='the red circle on the left', help='expression'
    )
    parser.add_argument(
        '--steps',
        nargs='+',
        choices=STEPS,
        default=list(STEPS),
        help='the measurements to run, each in its own process (default: all)',
    )
    parser.add_argument('--step', choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument('--image', help=argparse.SUPPRESS)
    parser.add_argument('--work-dir', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def reset_peak() -> bool:
    """Reset the kernel's peak RSS (VmHWM) to the current RSS; False where
    the kernel does not allow it."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_rss_mb(resettable: bool) -> float:
    """Peak RSS in MiB since :func:`reset_peak` (or since the start)."""
    if resettable:
        return _status_kb('VmHWM') / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    try:
        return _status_kb('VmRSS') / 1024
    except (OSError, KeyError):
        return float('nan')


def write_image(path: str, size: int) -> None:
    """A size×size JPEG of coloured shapes on a gradient."""
    import cv2

    ramp = np.linspace(60, 200, size, dtype=np.float32)
    img = np.empty((size, size, 3), np.uint8)
    img[..., 0] = ramp[None, :]
    img[..., 1] = ramp[:, None]
    img[..., 2] = 120
    r = size // 10
    cv2.circle(img, (size // 4, size // 2), r, (0, 0, 255), -1)
    cv2.rectangle(
        img, (size // 2, size // 4), (size // 2 + 2 * r,) * 2, (255, 0, 0), -1
    )
    cv2.imwrite(path, img)


def synthetic_prediction(size: int, num: int = 3):
    """A prediction as a grounder returns it for a size×size image:
    ``num`` disk masks, their boxes and scores, and the merged mask."""
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData

    ys = torch.arange(size).view(-1, 1)
    xs = torch.arange(size).view(1, -1)
    masks = torch.zeros((num, size, size), dtype=torch.bool)
    boxes = []
    for k in range(num):
        cx, cy, r = (k + 1) * size // (num + 1), size // 2, size // 8
        masks[k] = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
        boxes.append([cx - r, cy - r, cx + r + 1, cy + r + 1])
    sample = DetDataSample(
        metainfo=dict(
            img_path='benchmark.jpg',
            text='the red circle on the left',
            ori_shape=(size, size),
        )
    )
    sample.pred_instances = InstanceData(
        masks=masks,
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.full((num,), 0.9),
        labels=torch.zeros(num, dtype=torch.long),
    )
    sample.pred_sem_seg = PixelData(data=masks.any(0, keepdim=True))
    sample.pred_no_target = False
    sample.pred_nt_score = 0.1
    return sample


def run_step(args: argparse.Namespace) -> dict:
    """Set up one step, then measure it (in this process)."""
    from mmgres.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    if args.step == 'inference':
        from mmgres.apis import GroundingInferencer
        from mmgres.testing import save_random_checkpoint

        weights = args.weights
        if weights is None:
            weights = osp.join(args.work_dir, 'random.pth')
            save_random_checkpoint(args.config, weights)
        inferencer = GroundingInferencer(
            args.config, weights=weights, device='cpu'
        )

        def step():
            inferencer(args.image, texts=args.text)
    else:
        import mmcv

        from mmgres.visualization import GroundingLocalVisualizer

        image = mmcv.imread(args.image, channel_order='rgb')
        sample = synthetic_prediction(image.shape[0])
        vis = GroundingLocalVisualizer(name='benchmark_draw')
        limit = args.max_draw_size if args.step == 'draw-bounded' else 0
        out_file = osp.join(args.work_dir, f'{args.step}.jpg')

        def step():
            vis.add_datasample(
                'benchmark',
                image,
                sample,
                draw_gt=False,
                out_file=out_file,
                max_draw_size=limit,
            )

    before = rss_mb()
    resettable = reset_peak()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    return dict(
        step=args.step,
        seconds=seconds,
        peak_mb=peak_rss_mb(resettable),
        before_mb=before,
        peak_since_reset=resettable,
    )


def measure(args: argparse.Namespace, step: str, image: str, work_dir: str):
    """Run one step in a fresh Python process and read its result."""
    cmd = [
        sys.executable,
        osp.abspath(__file__),
        '--step',
        step,
        '--image',
        image,
        '--work-dir',
        work_dir,
        '--config',
        args.config,
        '--max-draw-size',
        str(args.max_draw_size),
        '--text',
        args.text,
    ]
    if args.weights:
        cmd += ['--weights', args.weights]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f'step {step!r} failed (exit {proc.returncode}):\n'
            + proc.stderr[-3000:]
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_table(results, size: int, max_draw_size: int) -> str:
    base = next((r for r in results if r['step'] == 'inference'), None)
    lines = [
        f'image {size}x{size}, bounded drawing at {max_draw_size}',
        '| step | time (s) | peak RSS (MiB) | RSS before (MiB) '
        '| peak / inference |',
        '| --- | --- | --- | --- | --- |',
    ]
    for r in results:
        ratio = (
            f'{r["peak_mb"] / base["peak_mb"]:.2f}'
            if base is not None
            else '-'
        )
        lines.append(
            f'| {r["step"]} | {r["seconds"]:.2f} | {r["peak_mb"]:.0f} '
            f'| {r["before_mb"]:.0f} | {ratio} |'
        )
    if not all(r['peak_since_reset'] for r in results):
        lines.append(
            'peak RSS is the whole process (no /proc/self/clear_refs here)'
        )
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.step is not None:
        print(json.dumps(run_step(args)))
        return
    with tempfile.TemporaryDirectory() as work_dir:
        image = osp.join(work_dir, 'image.jpg')
        write_image(image, args.size)
        results = [measure(args, s, image, work_dir) for s in args.steps]
    print(format_table(results, args.size, args.max_draw_size))


if __name__ == '__main__':
    main()
