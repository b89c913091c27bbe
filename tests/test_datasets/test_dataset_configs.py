"""configs/_base_/datasets/*: parse, build the pipelines, run on fixtures."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from refer_fixtures import dataset_cfg

from mmgres.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets')
EXPECTED = {
    'grefcoco_gres.py': ('GRefCOCODataset', ['GRESMetric']),
    'grefcoco_grec.py': ('GRefCOCODataset', ['GRECMetric']),
    'refzom.py': ('RefZOMDataset', ['RefZOMMetric']),
    'rrefcoco.py': ('RRefCOCODataset', ['RRefCOCOMetric']),
    'refcoco.py': ('RefCOCODataset', ['RESMetric', 'RECMetric']),
    'refclef.py': ('RefCLEFDataset', ['RESMetric', 'RECMetric']),
    'synthetic_grefcoco.py': ('GRefCOCODataset', ['GRESMetric']),
}
FIXTURE_KIND = {
    'GRefCOCODataset': 'grefcoco',
    'RefZOMDataset': 'refzom',
    'RRefCOCODataset': 'rrefcoco',
    'RefCOCODataset': 'refcoco',
    # RefCOCO's fixture is also in the refs(unc).p format RefCLEF reads
    'RefCLEFDataset': 'refcoco',
}


# GSVA's pre-training mixture: tested in test_gsva_pretrain_mixture.py
MIXTURES = {'gsva_pretrain_mixture.py'}


def test_every_config_is_covered():
    names = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    assert names == set(EXPECTED) | MIXTURES


def _types(evaluator):
    items = evaluator if isinstance(evaluator, list) else [evaluator]
    return [m['type'] for m in items]


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_config(name, refer_root):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    dataset_type, metrics = EXPECTED[name]
    assert cfg.dataset_type == dataset_type and cfg.data_root
    assert _types(cfg.val_evaluator) == metrics
    assert _types(cfg.test_evaluator) == metrics
    if name == 'grefcoco_grec.py':
        assert tuple(cfg.val_evaluator.iou_thrs) == (0.5, 0.7)
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        # the Runner's default (pseudo_collate), as in mmdet's configs,
        # so that mmdet's DetInferencer can read the config
        assert 'collate_fn' not in loader
        assert loader.sampler.type == 'DefaultSampler'
        assert loader.dataset.type == dataset_type
        Compose(loader.dataset.pipeline)  # every transform builds
    test_types = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    assert test_types == [
        'LoadImageFromFile',
        'Resize',
        'LoadReferringAnnotations',
        'PackReferringInputs',
    ]
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.test_dataloader.dataset.test_mode

    # the test dataset of the config, pointed at the fixture files
    ds_cfg = dict(cfg.test_dataloader.dataset)
    fixture = dataset_cfg(refer_root, FIXTURE_KIND[dataset_type])
    for key in ('data_root', 'ann_file', 'data_prefix'):
        ds_cfg[key] = fixture[key]
    ds_cfg.pop('refs_file', None)
    ds_cfg['split'] = 'test' if dataset_type == 'RefZOMDataset' else 'val'
    packed = DATASETS.build(ds_cfg)[0]
    sample = packed['data_samples']
    h, w = sample.ori_shape
    assert sample.gt_sem_seg.data.shape == (1, h, w)  # original frame
    assert packed['inputs'].shape[1:] == sample.img_shape


def test_synthetic_train_pipeline():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'synthetic_grefcoco.py'))
    assert cfg.data_root == 'data/synthetic_grefcoco/'
    train = cfg.train_dataloader.dataset
    assert train.text_mode == 'random'
    assert any(t['type'] == 'RandomFlip' for t in train.pipeline)
    resize = [
        t
        for t in cfg.test_dataloader.dataset.pipeline
        if t['type'] == 'Resize'
    ][0]
    assert tuple(resize['scale']) == (128, 128)
    assert resize['keep_ratio'] is False
