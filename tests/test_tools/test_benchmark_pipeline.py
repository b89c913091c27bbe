"""benchmark_pipeline.py on a tiny generated gRefCOCO: the runners see the
samples and objects counted by hand from the written files, and the JSON
holds every field the note reads (timings are not checked)."""

import json
import os.path as osp
import sys

import cv2
import pytest
import torch
from tool_utils import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
try:
    import benchmark_pipeline as bench
finally:
    sys.path.pop(0)

NUM_IMAGES = 3


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bench')
    root = str(tmp / 'synthetic')
    from mmgres.datasets.synthetic import generate_synthetic_grefcoco

    generate_synthetic_grefcoco(
        root, num_images=dict(train=NUM_IMAGES), img_size=64, progress=False
    )
    out = str(tmp / 'out.json')
    argv = ['--data-root', root, '--num-images', str(NUM_IMAGES)]
    argv += ['--pipelines', 'instalign', 'raam']
    argv += ['--rounds', '1', '--chunk', '2', '--out-json', out]
    threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        returned = bench.main(argv)
    finally:
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])
    with open(out) as f:
        written = json.load(f)
    with open(osp.join(root, 'grefs(unc).json')) as f:
        refs = [r for r in json.load(f) if r['split'] == 'train']
    with open(osp.join(root, 'instances.json')) as f:
        anns = json.load(f)['annotations']
    return returned, written, refs, anns


def _targets(ref):
    return 0 if ref['ann_id'] == [-1] else len(ref['ann_id'])


def test_json_is_what_main_returns(run):
    returned, written, _, _ = run
    assert written == json.loads(json.dumps(returned))
    assert list(written['pipelines']) == ['instalign', 'raam']
    assert written['data']['img_prefix'] == 'images/'


def test_runners_count_the_same_images_and_objects(run):
    _, written, refs, anns = run
    sentences = sum(len(r['sentences']) for r in refs)
    targets = sum(len(r['sentences']) * _targets(r) for r in refs)
    for r in written['pipelines'].values():
        assert r['images'] == NUM_IMAGES
        # mmdet's CocoDataset: one sample per image, every object decoded
        assert r['mmdet_coco']['samples'] == NUM_IMAGES
        assert r['mmdet_coco']['objects'] == len(anns)
        # the same referring samples (the targets only) through both
        ours, same = r['mmgres'], r['mmdet_targets']
        assert ours['samples'] == same['samples']
        assert ours['objects'] == same['objects']
        if r['text_mode'] == 'all':  # one sample per sentence
            assert ours['samples'] == sentences
            assert ours['objects'] == targets
        else:  # RaAM: one sample per ref, a sentence drawn at random
            assert r['text_mode'] == 'random'
            assert ours['samples'] == len(refs)
            assert ours['objects'] == sum(_targets(ref) for ref in refs)


def test_rates_and_ratios_agree(run):
    _, written, _, _ = run
    for r in written['pipelines'].values():
        for key in bench.RUNNERS:
            x = r[key]
            assert x['seconds'] > 0
            assert sum(x['ms_per_sample'].values()) == pytest.approx(
                1000 * x['seconds'] / x['samples'], rel=0.01
            )
            assert x['samples_per_s'] == pytest.approx(
                x['samples'] / x['seconds'], rel=0.01
            )
        for base in ('mmdet_targets', 'mmdet_coco'):
            ratio = r['mmgres']['samples_per_s'] / r[base]['samples_per_s']
            assert r[f'ratio_{base}'] == pytest.approx(ratio, rel=0.01)
            assert f'ratio_{base}_per_object' in r


def test_pipelines_and_their_mmdet_counterparts(run):
    _, written, _, _ = run
    mmdet = ['LoadImageFromFile', 'LoadAnnotations', 'Resize']
    mmdet += ['RandomFlip', 'PackDetInputs']
    for name, r in written['pipelines'].items():
        assert r['config'] == bench.PIPELINES[name]
        assert r['mmdet_pipeline'] == mmdet
        steps = set(r['mmgres']['ms_per_sample'])
        assert steps == {'data_info', *r['pipeline']}
        assert set(r['mmdet_coco']['ms_per_sample']) == {'data_info', *mmdet}
    assert written['pipelines']['instalign']['text_mode'] == 'all'
    assert written['pipelines']['raam']['text_mode'] == 'random'


def test_mmdet_counterpart_keeps_resize_options():
    # GSVA's release pipeline: mmdet's has no CLIP input, and a flip of
    # probability 0 before its packing
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='CLIPImageInput'),
        dict(type='LoadReferringAnnotations'),
        dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
        dict(type='PackReferringInputs'),
    ]
    out = bench.mmdet_pipeline(pipeline)
    names = [type(t).__name__ for t in out]
    assert names == [
        'LoadImageFromFile',
        'LoadAnnotations',
        'Resize',
        'RandomFlip',
        'PackDetInputs',
    ]
    assert out[2].scale == (1024, 1024) and out[2].keep_ratio
    assert out[3].prob == 0.0
    assert out[1].with_mask and out[1].with_bbox
