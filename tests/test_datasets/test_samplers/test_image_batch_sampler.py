"""ImageShardSampler + ImageBatchSampler: one batch per image with all its
samples in dataset order; ranks get whole images, disjoint and complete;
the GSVA release config's test dataloader builds with them."""

from itertools import chain, zip_longest

import pytest
from mmengine.config import Config
from mmengine.dataset import BaseDataset, ConcatDataset, DefaultSampler
from mmengine.runner import Runner
from refer_fixtures import dataset_cfg

from mmgres.datasets.samplers import ImageBatchSampler, ImageShardSampler
from mmgres.datasets.samplers import image_batch_sampler as module
from mmgres.registry import DATA_SAMPLERS, DATASETS

RELEASE = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_release.py'


class _Images(BaseDataset):
    """In-memory dataset: sample ``i`` shows image ``images[i]``."""

    def __init__(self, images, key='img_id', **kwargs):
        self.images = images
        self.key = key
        super().__init__(pipeline=[], **kwargs)

    def load_data_list(self):
        return [{self.key: img, 'i': i} for i, img in enumerate(self.images)]


def _dist(monkeypatch, rank, world_size):
    monkeypatch.setattr(module, 'get_dist_info', lambda: (rank, world_size))


def _batches(dataset, rank=0, world_size=1, monkeypatch=None):
    if monkeypatch is not None:
        _dist(monkeypatch, rank, world_size)
    return list(ImageBatchSampler(ImageShardSampler(dataset), batch_size=1))


def _grefcoco(refer_root, **kwargs):
    # val + testA + testB of the fixture, in refs-file order: ref 104 (img
    # 2, sent 1006), 105 (img 2, 1007), 106 (img 3, 1008), 107 (img 3,
    # 1009, 1010), 108 (img 2, 1011): image 2's refs are not contiguous
    cfg = dataset_cfg(
        refer_root, 'grefcoco', split=['val', 'testA', 'testB'], **kwargs
    )
    return DATASETS.build(cfg)


@pytest.mark.parametrize('serialize', [True, False])
def test_grefcoco_one_batch_per_image_in_dataset_order(refer_root, serialize):
    ds = _grefcoco(refer_root, serialize_data=serialize)
    sent_ids = [ds.get_data_info(i)['sent_id'] for i in range(len(ds))]
    assert sent_ids == [1006, 1007, 1008, 1009, 1010, 1011]
    batches = _batches(ds)
    # image 2 first (its first sample comes first), its refs in file order
    # (104, 105, 108), then image 3 (106, 107 with both sentences): the
    # order in which the release's ValDataset lists an image's sentences
    assert batches == [[0, 1, 5], [2, 3, 4]]
    assert len(ImageBatchSampler(ImageShardSampler(ds))) == 2


def test_default_sampler_on_one_rank_groups_non_contiguous_images():
    ds = _Images(['a', 'b', 'a', 'c', 'a'])
    sampler = ImageBatchSampler(DefaultSampler(ds, shuffle=False))
    assert list(sampler) == [[0, 2, 4], [1], [3]] and len(sampler) == 3


def test_shard_sampler_hand_example(monkeypatch):
    # A = [0, 1, 4], B = [2], C = [3]; two ranks: A, C to rank 0, B to 1
    ds = _Images(['A', 'A', 'B', 'C', 'A'])
    _dist(monkeypatch, 0, 2)
    s0 = ImageShardSampler(ds)
    assert s0.groups == [[0, 1, 4], [2], [3]]
    assert list(s0) == [0, 1, 4, 3] and len(s0) == 4
    _dist(monkeypatch, 1, 2)
    s1 = ImageShardSampler(ds)
    assert list(s1) == [2] and len(s1) == 1
    assert list(ImageBatchSampler(s1)) == [[2]]


@pytest.mark.parametrize('world_size', [2, 3])
def test_ranks_disjoint_complete_whole_images(monkeypatch, world_size):
    # 7 images of 1..4 samples, interleaved in the dataset
    images = [0, 1, 0, 2, 3, 3, 1, 4, 5, 6, 6, 6, 0, 2, 5, 6, 0]
    ds = _Images(images)
    per_rank = [
        _batches(ds, r, world_size, monkeypatch) for r in range(world_size)
    ]
    seen = [i for batches in per_rank for b in batches for i in b]
    assert sorted(seen) == list(range(len(images)))  # complete, no repeat
    for r, batches in enumerate(per_rank):
        for b in batches:
            assert len({images[i] for i in b}) == 1  # one image a batch
            assert b == sorted(b)  # in dataset order
            # all of the image's samples, so no other rank has any
            assert b == [
                i for i, img in enumerate(images) if img == images[b[0]]
            ]
        # image k (by first appearance) on rank k % world_size
        assert [images[b[0]] for b in batches] == [
            k for k in range(7) if k % world_size == r
        ]
    # mmengine's collect_results zips the ranks' results and keeps the
    # first len(dataset): with no padding every sample stays, exactly once
    parts = [[i for b in batches for i in b] for batches in per_rank]
    collected = [
        i for i in chain.from_iterable(zip_longest(*parts)) if i is not None
    ][: len(images)]
    assert sorted(collected) == list(range(len(images)))


def test_more_ranks_than_images(monkeypatch):
    ds = _Images(['a', 'a', 'b'])
    assert _batches(ds, 2, 3, monkeypatch) == []
    _dist(monkeypatch, 2, 3)
    assert len(ImageShardSampler(ds)) == 0


def test_image_keys_img_path_and_concat():
    ds = _Images(['x.png', 'y.png', 'x.png'], key='img_path')
    assert _batches(ds) == [[0, 2], [1]]
    # the same img_id in two datasets of a ConcatDataset: two images
    cat = ConcatDataset([_Images([7, 7]), _Images([7, 8])])
    assert _batches(cat) == [[0, 1], [2], [3]]


def test_errors(monkeypatch):
    with pytest.raises(KeyError, match='none of the image keys'):
        ImageShardSampler(_Images([1, 2], key='other'))
    ds = _Images(['a', 'b', 'a'])
    _dist(monkeypatch, 0, 2)
    with pytest.raises(ValueError, match='ImageShardSampler'):
        ImageBatchSampler(DefaultSampler(ds, shuffle=False, seed=0))
    _dist(monkeypatch, 0, 1)
    with pytest.raises(ValueError, match='more than once'):
        list(ImageBatchSampler(_Repeat(ds)))
    with pytest.raises(ValueError, match='dataset attribute'):
        ImageBatchSampler([0, 1, 2])


class _Repeat:
    """A sampler that pads by repeating its first index."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __iter__(self):
        return iter([*range(len(self.dataset)), 0])


def test_registered():
    ds = _Images([1])
    s = DATA_SAMPLERS.build(dict(type='ImageShardSampler', dataset=ds))
    b = DATA_SAMPLERS.build(
        dict(type='ImageBatchSampler', sampler=s, batch_size=1)
    )
    assert list(b) == [[0]]


def test_release_config_test_dataloader(refer_root):
    cfg = Config.fromfile(RELEASE)
    loader_cfg = cfg.test_dataloader.to_dict()
    assert loader_cfg['sampler'] == dict(type='ImageShardSampler')
    assert loader_cfg['batch_sampler'] == dict(type='ImageBatchSampler')
    base = dataset_cfg(refer_root, 'grefcoco', split=['val', 'testA', 'testB'])
    loader_cfg['dataset'].update(
        {k: base[k] for k in ('data_root', 'ann_file', 'data_prefix', 'split')}
    )
    loader_cfg['dataset']['refs_file'] = 'grefs(unc).json'
    # the tiny fixture images: a small CLIP input and SAM frame
    pipeline = loader_cfg['dataset']['pipeline']
    pipeline[1].update(size=32, crop_size=32)
    pipeline[2].update(scale=(64, 64))
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    assert isinstance(loader.batch_sampler, ImageBatchSampler)
    batches = list(loader)
    assert len(loader) == len(batches) == 2
    texts = [[s.text for s in b['data_samples']] for b in batches]
    assert texts == [
        ['the tall box', 'everything', 'the box'],  # image 2
        ['a red car', 'the square', 'square in the corner'],  # image 3
    ]
    assert [len(b['inputs']) for b in batches] == [3, 3]
    for b in batches:
        assert len({s.img_id for s in b['data_samples']}) == 1
