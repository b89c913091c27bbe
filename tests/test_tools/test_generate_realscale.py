"""generate_realscale_refer.py: the release's counts, and files that the
referring datasets load without a problem."""

import importlib.util
import os.path as osp

import pytest
from mmengine.registry import DefaultScope
from tool_utils import REPO

from mmgres.datasets import GRefCOCODataset, RefCOCODataset
from mmgres.datasets.utils import find_dataset_problems
from mmgres.registry import DATASETS

TOOL = osp.join(
    REPO, 'tools', 'dataset_converters', 'generate_realscale_refer.py'
)
SPLITS = ('train', 'val', 'testA', 'testB')


def load_tool():
    spec = importlib.util.spec_from_file_location('realscale', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool()


@pytest.fixture(scope='module')
def generated(tmp_path_factory, tool):
    out = str(tmp_path_factory.mktemp('realscale'))
    assert (
        tool.main(
            ['--out-dir', out, '--scale', '0.002', '--write-images', '3']
        )
        == 0
    )
    return out


def test_plan_is_the_release_at_scale_one(tool):
    plan = tool.plan_counts(1.0)
    gref = plan['grefcoco']
    # GRES (CVPR 2023) Sec. 3: 278,232 expressions, 80,022 multi-target,
    # 32,202 no-target, 19,994 images, 60,287 target objects
    assert sum(g['expressions'] for g in gref.values()) == 278_232
    assert sum(g['multi_target'] for g in gref.values()) == 80_022
    assert sum(g['no_target'] for g in gref.values()) == 32_202
    assert sum(plan['images'].values()) == 19_994
    assert plan['target_objects'] == 60_287
    assert plan['annotations'] == 196_771
    # RefCOCO UNC: refs and expressions per split, images of the partition
    assert [plan['refcoco'][s]['refs'] for s in SPLITS] == [
        42_404,
        3_811,
        1_975,
        1_810,
    ]
    assert [plan['refcoco'][s]['expressions'] for s in SPLITS] == [
        120_624,
        10_834,
        5_657,
        5_095,
    ]
    assert [plan['images'][s] for s in SPLITS] == [16_994, 1_500, 750, 750]
    # derived: gRefCOCO's expressions in RefCOCO's split proportions,
    # 278,232 * 120,624 / 142,210 = 235,999.3 for train
    assert gref['train']['expressions'] == 235_999
    assert sum(g['refs'] for g in gref.values()) == 97_824


def test_apportion(tool):
    assert tool.apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert tool.apportion(10, [100, 1, 0], minimum=1) == [8, 1, 1]


def test_category_names_are_mmdets(tool):
    from mmdet.datasets import CocoDataset

    names = [n.replace('_', ' ') for n in tool.COCO_CATEGORY_NAMES]
    assert tuple(names) == CocoDataset.METAINFO['classes']


def dataset_cfg(root, kind, split):
    cfg = dict(
        data_root=osp.join(root, kind),
        split=split,
        data_prefix=dict(img_path='images/train2014/'),
        pipeline=[],
        serialize_data=False,  # saves a gc.collect() per dataset
    )
    if kind == 'grefcoco':
        return dict(type='GRefCOCODataset', **cfg)
    return dict(type='RefCOCODataset', **cfg)


def build(root, kind, split):
    with DefaultScope.overwrite_default_scope('mmgres'):
        return DATASETS.build(dataset_cfg(root, kind, split))


def test_loads_with_the_planned_counts(generated, tool):
    plan = tool.plan_counts(0.002)
    for split in SPLITS:
        gref = build(generated, 'grefcoco', split)
        assert isinstance(gref, GRefCOCODataset)
        p = plan['grefcoco'][split]
        infos = [gref.get_data_info(i) for i in range(len(gref))]
        assert len(infos) == p['expressions']
        assert sum(i['no_target'] for i in infos) == p['no_target']
        assert (
            sum(len(i['instances']) > 1 for i in infos) == (p['multi_target'])
        )
        assert all(i['instances'] for i in infos if not i['no_target'])
        ref = build(generated, 'refcoco', split)
        assert isinstance(ref, RefCOCODataset)
        assert len(ref) == plan['refcoco'][split]['expressions']
        assert (
            len({ref.get_data_info(i)['ref_id'] for i in range(len(ref))})
            == (plan['refcoco'][split]['refs'])
        )
    # shares at this scale: 12% no-target and 29% multi-target as released
    total = sum(p['expressions'] for p in plan['grefcoco'].values())
    nt = sum(p['no_target'] for p in plan['grefcoco'].values())
    assert abs(nt / total - 32_202 / 278_232) < 0.01


def test_no_problem_found(generated):
    for kind in ('grefcoco', 'refcoco'):
        cfg = dataset_cfg(generated, kind, list(SPLITS))
        assert find_dataset_problems(cfg) == []


def test_crowd_rle_and_polygons(generated):
    import json

    with open(osp.join(generated, 'grefcoco', 'instances.json')) as f:
        coco = json.load(f)
    sizes = {i['id']: (i['height'], i['width']) for i in coco['images']}
    crowd = [a for a in coco['annotations'] if a['iscrowd']]
    assert crowd
    for ann in crowd:
        h, w = sizes[ann['image_id']]
        assert ann['segmentation']['size'] == [h, w]
        assert sum(ann['segmentation']['counts']) == h * w
    vertices = [
        len(p) // 2
        for a in coco['annotations']
        if not a['iscrowd']
        for p in a['segmentation']
    ]
    assert min(vertices) >= 3
    assert 10 <= sorted(vertices)[len(vertices) // 2] <= 30


def test_deterministic(tmp_path, tool):
    outs = []
    for name in ('a', 'b'):
        out = str(tmp_path / name)
        tool.main(
            ['--out-dir', out, '--scale', '0.0005', '--write-images', '1']
        )
        with open(osp.join(out, 'grefcoco', 'grefs(unc).json'), 'rb') as f:
            grefs = f.read()
        with open(osp.join(out, 'refcoco', 'refs(unc).p'), 'rb') as f:
            outs.append((grefs, f.read()))
    assert outs[0] == outs[1]
