# Copyright (c) mmgres contributors. All rights reserved.
"""The generated synthetic benchmark: official file formats, determinism,
the sentence mix, masks against pixels, idempotency and the CLI."""

import filecmp
import importlib.util
import json
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from mmgres.datasets.synthetic import (
    COLOURS,
    SYNTHETIC_VOCAB,
    generate_synthetic_grefcoco,
)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(
    num_images=dict(train=60, val=12, testA=12, testB=12),
    img_size=96,
    seed=3,
    progress=False,
)
COUNT_WORDS = {'two', 'three', 'four', 'five', 'six'}


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic'))
    summary = generate_synthetic_grefcoco(out, **SMALL)
    with open(osp.join(out, 'grefs(unc).json')) as f:
        refs = json.load(f)
    with open(osp.join(out, 'scenes.json')) as f:
        scenes = json.load(f)['images']
    return dict(
        out=out,
        summary=summary,
        refs=refs,
        scenes=scenes,
        coco=COCO(osp.join(out, 'instances.json')),
    )


def test_grefs_fields_and_types(bench):
    refs = bench['refs']
    assert isinstance(refs, list) and len(refs) > 150
    images = {i['id']: i for i in bench['coco'].dataset['images']}
    sent_ids = set()
    for ref in refs:
        assert set(ref) == {
            'ref_id',
            'image_id',
            'split',
            'file_name',
            'ann_id',
            'category_id',
            'sentences',
            'sent_ids',
            'no_target',
        }
        assert isinstance(ref['ref_id'], int)
        assert ref['split'] in ('train', 'val', 'testA', 'testB')
        assert ref['file_name'] == images[ref['image_id']]['file_name']
        assert isinstance(ref['ann_id'], list)
        assert isinstance(ref['category_id'], list)
        assert len(ref['ann_id']) == len(ref['category_id'])
        assert isinstance(ref['no_target'], bool)
        if ref['no_target']:
            assert ref['ann_id'] == [-1] and ref['category_id'] == [-1]
        else:
            assert -1 not in ref['ann_id']
            anns = bench['coco'].loadAnns(ref['ann_id'])
            assert [a['category_id'] for a in anns] == ref['category_id']
            assert all(a['image_id'] == ref['image_id'] for a in anns)
        assert ref['sent_ids'] == [s['sent_id'] for s in ref['sentences']]
        assert 1 <= len(ref['sentences']) <= 2
        for s in ref['sentences']:
            assert set(s) == {'sent_id', 'sent', 'raw', 'tokens'}
            assert s['tokens'] == s['sent'].split()
            assert s['raw'].lower() == s['sent']
            assert set(s['tokens']) <= set(SYNTHETIC_VOCAB)
            sent_ids.add(s['sent_id'])
    assert len(sent_ids) == sum(len(r['sentences']) for r in refs)
    assert len({r['ref_id'] for r in refs}) == len(refs)


def test_coco_annotations_masks_boxes_and_encodings(bench):
    coco = bench['coco']
    styles = dict(polygon=0, rle=0, rle_list=0)
    assert [c['name'] for c in coco.dataset['categories']] == [
        'circle',
        'square',
        'triangle',
        'diamond',
    ]
    for ann in coco.dataset['annotations']:
        seg = ann['segmentation']
        if isinstance(seg, list):
            styles['polygon'] += 1
        elif isinstance(seg['counts'], str):
            styles['rle'] += 1
        else:
            styles['rle_list'] += 1
        mask = coco.annToMask(ann).astype(bool)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0, ann['id']
        assert ann['bbox'] == [
            xs.min(),
            ys.min(),
            xs.max() - xs.min() + 1,
            ys.max() - ys.min() + 1,
        ]
        assert ann['area'] == mask.sum() and ann['iscrowd'] == 0
    assert min(styles.values()) >= 20, styles


def test_images_exist_and_masks_carry_the_object_colour(bench):
    coco, out = bench['coco'], bench['out']
    names = list(COLOURS)
    base = np.array([COLOURS[n] for n in names], dtype=np.float64)
    objects = {}
    for scene in bench['scenes'][:25]:
        img = cv2.imread(osp.join(out, 'images', scene['file_name']))
        assert img is not None and img.shape == (96, 96, 3)
        rgb = img[..., ::-1].astype(np.float64)
        for obj in scene['objects']:
            mask = coco.annToMask(coco.anns[obj['ann_id']]).astype(bool)
            mean = rgb[mask].mean(0)
            nearest = names[int(np.linalg.norm(base - mean, axis=1).argmin())]
            assert nearest == obj['colour'], (scene['file_name'], obj)
            objects[obj['ann_id']] = nearest
    # tie the text to the pixels: a colour word names the colour of every
    # referent's pixels (attribute, plural and count expressions)
    kinds = {
        s['sent_id']: s['kind']
        for sc in bench['scenes']
        for s in sc['sentences']
    }
    checked = 0
    for ref in bench['refs']:
        if not set(ref['ann_id']) <= set(objects) or ref['no_target']:
            continue
        for s in ref['sentences']:
            words = set(s['tokens'])
            colour = words & set(COLOURS)
            if (
                kinds[s['sent_id']] in ('attribute', 'plural', 'count')
                and colour
            ):
                assert {objects[a] for a in ref['ann_id']} == colour, s
                checked += 1
    assert checked >= 5


def test_referents_are_visible_and_singular_sentences_are_singular(bench):
    referable = {
        o['ann_id']: o['referable']
        for sc in bench['scenes']
        for o in sc['objects']
    }
    for ref in bench['refs']:
        if ref['no_target']:
            continue
        assert all(referable[a] for a in ref['ann_id'])
        for s in ref['sentences']:
            toks = s['tokens']
            if toks[0] in COUNT_WORDS:
                assert (
                    len(ref['ann_id'])
                    == ['two', 'three', 'four', 'five', 'six'].index(toks[0])
                    + 2
                )
            if toks[0] in ('all', 'both') or ' and ' in s['sent']:
                assert len(ref['ann_id']) >= 2


def test_sentence_mix_is_near_the_grefcoco_shares(bench):
    totals = dict(sentences=0, multi=0, none=0)
    for ref in bench['refs']:
        n = len(ref['sentences'])
        totals['sentences'] += n
        totals['none'] += n * ref['no_target']
        totals['multi'] += n * (len(ref['ann_id']) > 1)
    assert totals['sentences'] > 300
    assert abs(totals['multi'] / totals['sentences'] - 0.30) < 0.02
    assert abs(totals['none'] / totals['sentences'] - 0.12) < 0.02
    train = bench['summary']['splits']['train']
    assert train['images'] == 60 and train['sentences'] >= 180
    assert abs(train['multi_target_pct'] - 30) < 3
    assert abs(train['no_target_pct'] - 12) < 3


def test_refcoco_variant(bench):
    out = bench['out']
    with open(osp.join(out, 'refcoco', 'refs(unc).p'), 'rb') as f:
        refs = pickle.load(f)
    coco = COCO(osp.join(out, 'refcoco', 'instances.json'))
    singles = [
        r
        for r in bench['refs']
        if len(r['ann_id']) == 1 and not r['no_target']
    ]
    assert len(refs) == len(singles) > 50
    for ref in refs:
        assert set(ref) == {
            'ref_id',
            'image_id',
            'split',
            'file_name',
            'ann_id',
            'category_id',
            'sentences',
            'sent_ids',
        }
        assert isinstance(ref['ann_id'], int)
        assert isinstance(ref['category_id'], int)
        ann = coco.anns[ref['ann_id']]
        assert ann['category_id'] == ref['category_id']
        assert ann['image_id'] == ref['image_id']
        assert osp.isfile(
            osp.join(out, 'refcoco', '..', 'images', ref['file_name'])
        )


def test_determinism_and_seed(bench, tmp_path):
    again = str(tmp_path / 'again')
    generate_synthetic_grefcoco(again, **SMALL)
    for name in (
        'grefs(unc).json',
        'instances.json',
        'scenes.json',
        osp.join('refcoco', 'refs(unc).p'),
        osp.join('refcoco', 'instances.json'),
    ):
        assert filecmp.cmp(
            osp.join(bench['out'], name), osp.join(again, name), shallow=False
        ), name
    imgs = sorted(os.listdir(osp.join(again, 'images')))
    assert imgs == sorted(os.listdir(osp.join(bench['out'], 'images')))
    match, mismatch, errors = filecmp.cmpfiles(
        osp.join(bench['out'], 'images'),
        osp.join(again, 'images'),
        imgs,
        shallow=False,
    )
    assert len(match) == len(imgs) and not mismatch and not errors
    other = str(tmp_path / 'other')
    generate_synthetic_grefcoco(
        other, **dict(SMALL, seed=4, num_images=dict(train=3))
    )
    with open(osp.join(other, 'grefs(unc).json')) as f:
        other_refs = json.load(f)
    first = [r['sentences'][0]['sent'] for r in other_refs]
    assert first != [
        r['sentences'][0]['sent'] for r in bench['refs'][: len(first)]
    ]


def _load_cli():
    path = osp.join(
        REPO, 'tools', 'dataset_converters', 'generate_synthetic_grefcoco.py'
    )
    spec = importlib.util.spec_from_file_location('gen_synthetic_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_is_idempotent_and_prints_a_summary(tmp_path, capsys):
    cli = _load_cli()
    out = str(tmp_path / 'bench')
    argv = [
        '--out-dir',
        out,
        '--num-train',
        '6',
        '--num-val',
        '2',
        '--num-test',
        '2',
        '--img-size',
        '64',
        '--no-progress',
    ]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert 'wrote' in text and 'multi-target %' in text
    assert 'train' in text and 'testB' in text
    with open(osp.join(out, 'generation_args.json')) as f:
        record = json.load(f)
    assert record['args']['num_images'] == dict(
        train=6, val=2, testA=2, testB=2
    )
    assert record['splits']['train']['images'] == 6
    grefs = osp.join(out, 'grefs(unc).json')
    stamp = os.stat(grefs).st_mtime_ns
    assert cli.main(argv) == 0
    assert 'up to date' in capsys.readouterr().out
    assert os.stat(grefs).st_mtime_ns == stamp
    # other arguments regenerate, and stale images are removed
    assert cli.main(argv[:3] + ['2'] + argv[4:]) == 0
    assert 'wrote' in capsys.readouterr().out
    assert len(os.listdir(osp.join(out, 'images'))) == 2 + 2 + 2 + 2
    assert cli.main(argv[:3] + ['2'] + argv[4:] + ['--force']) == 0
    assert 'wrote' in capsys.readouterr().out
    # a missing image makes the output out of date
    os.remove(
        osp.join(out, 'images', sorted(os.listdir(osp.join(out, 'images')))[0])
    )
    assert cli.main(argv[:3] + ['2'] + argv[4:]) == 0
    assert 'wrote' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.parse_args(['--num-train', '-1'])


def test_vocab_builds_a_tokenizer_without_unknown_words(bench):
    from mmgres.models.tokenizers import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(SYNTHETIC_VOCAB)
    sents = [s['raw'] for r in bench['refs'] for s in r['sentences']]
    ids = tok(sents)['input_ids']
    assert all(tok.unk_token_id not in seq for seq in ids)
    assert len(SYNTHETIC_VOCAB) == len(set(SYNTHETIC_VOCAB)) < 80


def test_loads_with_the_grefcoco_dataset(bench):
    from mmgres.registry import DATASETS

    if DATASETS.get('GRefCOCODataset') is None:
        pytest.skip('GRefCOCODataset is not registered')
    ds = DATASETS.build(
        dict(
            type='GRefCOCODataset',
            data_root=bench['out'],
            split='val',
            data_prefix=dict(img_path='images/'),
            pipeline=[],
            test_mode=True,
        )
    )
    val = [r for r in bench['refs'] if r['split'] == 'val']
    assert len(ds) == sum(len(r['sentences']) for r in val)
    assert sum(
        bool(ds.get_data_info(i)['no_target']) for i in range(len(ds))
    ) == sum(len(r['sentences']) for r in val if r['no_target'])
