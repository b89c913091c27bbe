"""browse_dataset.py, eval_predictions.py and prepare_refzom.py on a tiny
official-format gRefCOCO written here.

The tools run in-process (``runpy``, with ``sys.argv`` set) to keep the
file fast: a subprocess pays ~7 s of imports each time.
"""

import json
import os
import os.path as osp
import runpy
import sys

import mmcv
import mmengine
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData
from tool_utils import REPO

BROWSE = osp.join(REPO, 'tools', 'analysis_tools', 'browse_dataset.py')
EVAL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_predictions.py')
PREPARE_REFZOM = osp.join(
    REPO, 'tools', 'dataset_converters', 'prepare_refzom.py'
)

BG = (90, 90, 90)  # image colour (BGR = RGB, it is grey)


def rect_polygon(x, y, w, h):
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def write_grefcoco(root, broken=False):
    """img1 (60x80) has two boxes; img2 (48x64) one. Refs of split 'val':
    a two-target ref, a one-target ref and a no-target ref; one 'train'
    ref. ``broken`` points a ref at a missing annotation and an image at a
    missing file."""
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    mmcv.imwrite(
        np.full((60, 80, 3), BG, np.uint8),
        osp.join(root, 'images', 'img1.jpg'),
    )
    if not broken:
        mmcv.imwrite(
            np.full((48, 64, 3), BG, np.uint8),
            osp.join(root, 'images', 'img2.jpg'),
        )
    anns = [
        (10, 1, (10, 10, 20, 15)),
        (11, 1, (40, 30, 30, 20)),
        (20, 2, (5, 5, 30, 30)),
    ]
    instances = dict(
        images=[
            dict(id=1, file_name='img1.jpg', height=60, width=80),
            dict(id=2, file_name='img2.jpg', height=48, width=64),
        ],
        annotations=[
            dict(
                id=i,
                image_id=img,
                category_id=1,
                iscrowd=0,
                bbox=list(box),
                area=box[2] * box[3],
                segmentation=rect_polygon(*box),
            )
            for i, img, box in anns
        ],
        categories=[dict(id=1, name='object')],
    )

    def ref(ref_id, img, split, ann_ids, sent_id, text):
        file_name = 'img1.jpg' if img == 1 else 'img2.jpg'
        return dict(
            ref_id=ref_id,
            image_id=img,
            split=split,
            file_name=file_name,
            ann_id=ann_ids,
            category_id=[1] * len(ann_ids),
            sentences=[
                dict(sent_id=sent_id, sent=text, raw=text, tokens=text.split())
            ],
        )

    refs = [
        ref(1, 1, 'val', [10, 11], 100, 'both boxes'),
        ref(2, 1, 'val', [99 if broken else 10], 101, 'the left box'),
        ref(3, 2, 'val', [-1], 102, 'the purple dog'),
        ref(4, 2, 'train', [20], 103, 'the square'),
    ]
    with open(osp.join(root, 'instances.json'), 'w') as f:
        json.dump(instances, f)
    with open(osp.join(root, 'grefs(unc).json'), 'w') as f:
        json.dump(refs, f)


CONFIG = """
default_scope = 'mmgres'
data_root = {root!r}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(type='GRefCOCODataset', data_root=data_root, split='train',
                 data_prefix=dict(img_path='images/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    dataset=dict(type='GRefCOCODataset', data_root=data_root, split='val',
                 data_prefix=dict(img_path='images/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='GRESMetric', prefix='valgres')
test_evaluator = dict(type='GRESMetric')
visualizer = dict(type='GroundingLocalVisualizer', name='visualizer')
"""


@pytest.fixture
def dataset_config(tmp_path):
    root = str(tmp_path / 'grefcoco')
    write_grefcoco(root)
    cfg = tmp_path / 'tiny_grefcoco.py'
    cfg.write_text(CONFIG.format(root=root))
    return str(cfg)


def run_script(path, args, monkeypatch):
    """Run a tool's ``__main__`` in-process; return its exit code."""
    monkeypatch.setattr(sys, 'argv', [path, *args])
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit as e:
        return (
            e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        )
    return 0


def is_red(pixels):
    pixels = pixels.reshape(-1, 3).astype(int)
    return (pixels[:, 0] > 150) & (pixels[:, 1] < 110) & (pixels[:, 2] < 110)


# ----------------------------------------------------------------------
# browse_dataset.py
# ----------------------------------------------------------------------
def test_browse_test_split_draws_every_expression(
    dataset_config, tmp_path, monkeypatch, capsys
):
    out = tmp_path / 'vis'
    code = run_script(
        BROWSE,
        [
            dataset_config,
            '--split',
            'val',
            '--output-dir',
            str(out),
            '--not-show',
        ],
        monkeypatch,
    )
    assert code == 0
    # one image per expression (img1 has two), named by sentence id
    assert sorted(os.listdir(out)) == [
        'img1_100.jpg',
        'img1_101.jpg',
        'img2_102.jpg',
    ]
    assert 'Drew 3 samples (1 no-target)' in capsys.readouterr().out

    # The test pipeline resizes the image to 32x32 but loads the ground
    # truth in the original frame: the original 60x80 image is drawn.
    both = mmcv.imread(str(out / 'img1_100.jpg'), channel_order='rgb')
    assert both.shape[1] == 80 and both.shape[0] > 60  # + caption strip
    panel = both[-60:].astype(int)
    # inside both objects the grey image is tinted, far from them it is not
    assert np.abs(panel[14:22, 14:26] - 90).sum(-1).min() > 20
    assert np.abs(panel[36:46, 46:66] - 90).sum(-1).min() > 20
    assert np.abs(panel[50:58, 2:8] - 90).max() <= 12  # jpeg noise only
    # the one-target expression tints only the left object
    left = mmcv.imread(str(out / 'img1_101.jpg'), channel_order='rgb')
    panel = left[-60:].astype(int)
    assert np.abs(panel[14:22, 14:26] - 90).sum(-1).min() > 20
    assert np.abs(panel[36:46, 46:66] - 90).max() <= 12

    # the no-target expression gets the red banner, and no object
    nt = mmcv.imread(str(out / 'img2_102.jpg'), channel_order='rgb')
    panel = nt[-48:]
    assert is_red(panel[22:26]).mean() > 0.5
    assert not is_red(panel[:8]).any()


def test_browse_train_split_and_max_samples(
    dataset_config, tmp_path, monkeypatch
):
    out = tmp_path / 'train'
    assert (
        run_script(
            BROWSE,
            [dataset_config, '--output-dir', str(out), '--not-show'],
            monkeypatch,
        )
        == 0
    )
    assert os.listdir(out) == ['img2_103.jpg']
    out = tmp_path / 'two'
    assert (
        run_script(
            BROWSE,
            [
                dataset_config,
                '--split',
                'val',
                '--max-samples',
                '2',
                '--output-dir',
                str(out),
                '--not-show',
            ],
            monkeypatch,
        )
        == 0
    )
    assert len(os.listdir(out)) == 2


def test_browse_check(dataset_config, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'ok'
    assert (
        run_script(
            BROWSE,
            [
                dataset_config,
                '--split',
                'val',
                '--check',
                '--output-dir',
                str(out),
                '--not-show',
            ],
            monkeypatch,
        )
        == 0
    )
    assert 'no problem found' in capsys.readouterr().out
    assert len(os.listdir(out)) == 3

    # a broken copy: a ref to annotation 99 and a missing image file
    root = str(tmp_path / 'broken')
    write_grefcoco(root, broken=True)
    cfg = tmp_path / 'broken.py'
    cfg.write_text(CONFIG.format(root=root))
    out = tmp_path / 'never'
    code = run_script(
        BROWSE,
        [
            str(cfg),
            '--split',
            'val',
            '--check',
            '--output-dir',
            str(out),
            '--not-show',
        ],
        monkeypatch,
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert 'problem(s) found' in printed
    assert '99' in printed
    assert 'img2.jpg' in printed
    assert not out.exists()  # nothing drawn after a failed check


# ----------------------------------------------------------------------
# eval_predictions.py
# ----------------------------------------------------------------------
def mask(h, w, rows, cols):
    m = np.zeros((1, h, w), np.uint8)
    m[0, rows[0] : rows[1], cols[0] : cols[1]] = 1
    return torch.from_numpy(m)


def write_predictions(path):
    """Five samples with hand-computed GRES results (ReLA's rules):

    ====  =======  ============  ====  ===  =====  =====
    case  GT       prediction    I     U    IoU    kind
    ====  =======  ============  ====  ===  =====  =====
    s1    10 px    8 px inside   8     10   0.8    TN
    s2    10 px    10 px, 5 in   5     15   1/3    TN
    s3    none     no target     -     -    1      TP
    s4    none     5 px          0     5    0      FN
    s5    10 px    no target     0     10   0      FP (4 px not cleared)
    ====  =======  ============  ====  ===  =====  =====

    gIoU = (0.8 + 1/3 + 1) / 5 = 42.6667, cIoU = 13 / 40 = 32.5,
    N_acc = 1/2, T_acc = 2/3, Pr@0.7 = Pr@0.8 = 1/3, Pr@0.9 = 0.
    """
    h, w = 10, 10
    gt = mask(h, w, (0, 2), (0, 5))  # 10 px
    empty = torch.zeros((1, h, w), dtype=torch.uint8)
    cases = [
        (False, gt, mask(h, w, (0, 2), (0, 4)), False),  # 8 px inside
        (False, gt, mask(h, w, (1, 3), (0, 5)), False),  # 5 in, 5 out
        (True, empty, empty, True),
        (True, empty, mask(h, w, (5, 6), (0, 5)), False),  # 5 px
        (False, gt, mask(h, w, (0, 1), (0, 4)), True),  # 4 px inside
    ]
    samples = []
    for i, (gt_nt, gt_mask, pred_mask, pred_nt) in enumerate(cases):
        sample = DetDataSample(
            metainfo=dict(
                img_path=f'img{i}.jpg',
                img_id=i,
                ref_id=i,
                sent_id=100 + i,
                text='x',
                no_target=gt_nt,
                ori_shape=(h, w),
            )
        )
        sample.gt_sem_seg = PixelData(data=gt_mask)
        sample.pred_sem_seg = PixelData(data=pred_mask.bool())
        sample.pred_no_target = pred_nt
        samples.append(sample.to_dict())  # what DumpResults stores
    mmengine.dump(samples, path)


def test_eval_predictions_known_values(
    dataset_config, tmp_path, monkeypatch, capsys
):
    preds = str(tmp_path / 'preds.pkl')
    write_predictions(preds)
    out_json = str(tmp_path / 'metrics.json')
    assert (
        run_script(
            EVAL, [dataset_config, preds, '--out-json', out_json], monkeypatch
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert 'Evaluated 5 samples' in printed
    assert 'gres/cIoU: 32.5000' in printed
    got = mmengine.load(out_json)
    expected = {
        'gres/gIoU': 100 * (0.8 + 1 / 3 + 1) / 5,
        'gres/cIoU': 32.5,
        'gres/N_acc': 50.0,
        'gres/T_acc': 200 / 3,
        'gres/Pr@0.7': 100 / 3,
        'gres/Pr@0.8': 100 / 3,
        'gres/Pr@0.9': 0.0,
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-3), key

    # --cfg-options re-configures the metric offline: with the LISA rule
    # (fewer than 6 predicted pixels = no target) s4 becomes a TP.
    assert (
        run_script(
            EVAL,
            [
                dataset_config,
                preds,
                '--out-json',
                out_json,
                '--cfg-options',
                'test_evaluator.nt_source=empty_mask',
                'test_evaluator.min_pixels=6',
            ],
            monkeypatch,
        )
        == 0
    )
    got = mmengine.load(out_json)
    assert got['gres/N_acc'] == pytest.approx(100.0)
    assert got['gres/T_acc'] == pytest.approx(200 / 3)


def test_eval_predictions_val_split_and_bad_file(
    dataset_config, tmp_path, monkeypatch, capsys
):
    preds = str(tmp_path / 'preds.pkl')
    write_predictions(preds)
    assert (
        run_script(
            EVAL, [dataset_config, preds, '--split', 'val'], monkeypatch
        )
        == 0
    )
    assert 'valgres/cIoU: 32.5000' in capsys.readouterr().out

    bad = str(tmp_path / 'bad.pkl')
    mmengine.dump({'not': 'a list'}, bad)
    with pytest.raises(SystemExit, match='bad.pkl holds a dict'):
        monkeypatch.setattr(sys, 'argv', [EVAL, dataset_config, bad])
        runpy.run_path(EVAL, run_name='__main__')
    missing = str(tmp_path / 'nope.pkl')
    with pytest.raises(SystemExit, match='not found: .*nope.pkl'):
        monkeypatch.setattr(sys, 'argv', [EVAL, dataset_config, missing])
        runpy.run_path(EVAL, run_name='__main__')


# ----------------------------------------------------------------------
# prepare_refzom.py
# ----------------------------------------------------------------------
def test_prepare_refzom(tmp_path, monkeypatch, capsys):
    coco = tmp_path / 'coco'
    for split, name in (
        ('train2014', 'COCO_train2014_1.jpg'),
        ('val2014', 'COCO_val2014_2.jpg'),
    ):
        os.makedirs(coco / split)
        (coco / split / name).write_bytes(b'jpg')
    dl = tmp_path / 'download'
    os.makedirs(dl)
    (dl / 'Ref-ZOM(final).p').write_bytes(b'refs')
    images = [
        dict(id=1, file_name='COCO_train2014_1.jpg'),
        dict(id=2, file_name='COCO_val2014_2.jpg'),
    ]
    (dl / 'instances.json').write_text(json.dumps(dict(images=images)))
    out = tmp_path / 'ref-zom'
    args = [
        '--refs',
        str(dl / 'Ref-ZOM(final).p'),
        '--instances',
        str(dl / 'instances.json'),
        '--coco-root',
        str(coco),
        '--out-dir',
        str(out),
    ]
    assert run_script(PREPARE_REFZOM, args, monkeypatch) == 0
    assert (out / 'refs(final).p').read_bytes() == b'refs'
    assert (out / 'instances.json').is_file()
    merged = out / 'images' / 'trainval2014'
    assert sorted(os.listdir(merged)) == [
        'COCO_train2014_1.jpg',
        'COCO_val2014_2.jpg',
    ]
    assert (merged / 'COCO_val2014_2.jpg').read_bytes() == b'jpg'

    # an image that COCO does not have is reported, with status 1
    images.append(dict(id=3, file_name='COCO_val2014_3.jpg'))
    (dl / 'instances.json').write_text(json.dumps(dict(images=images)))
    assert run_script(PREPARE_REFZOM, args, monkeypatch) == 1
    assert 'COCO_val2014_3.jpg' in capsys.readouterr().out
