"""ImageGroupedSampler: an image's expressions stay in one batch, every
sample is seen once per epoch, ranks get disjoint shards, epochs reshuffle
(the same way on every rank)."""

from collections import Counter

import pytest
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.registry import DefaultScope
from refer_fixtures import dataset_cfg

from mmgres.datasets.samplers import ImageGroupedSampler
from mmgres.datasets.samplers import image_grouped_sampler as module
from mmgres.registry import DATA_SAMPLERS, DATASETS


class _Images(BaseDataset):
    """In-memory dataset: ``sizes[k]`` samples of image k, in order."""

    def __init__(self, sizes, key='img_id'):
        self.sizes = sizes
        self.key = key
        super().__init__(pipeline=[], serialize_data=False)

    def load_data_list(self):
        return [
            {self.key: f'img{k}' if self.key == 'img_path' else k, 'j': j}
            for k, n in enumerate(self.sizes)
            for j in range(n)
        ]


def _images_of(dataset, batch):
    return [dataset.get_data_info(i).get('img_id') for i in batch]


def _split(indices, batch_size):
    return [
        indices[k : k + batch_size] for k in range(0, len(indices), batch_size)
    ]


def _sampler(dataset, rank=0, world_size=1, monkeypatch=None, **kwargs):
    if monkeypatch is not None:
        monkeypatch.setattr(
            module, 'get_dist_info', lambda: (rank, world_size)
        )
    kwargs.setdefault('seed', 0)
    return ImageGroupedSampler(dataset, **kwargs)


def test_hand_example_no_shuffle(monkeypatch):
    # images A = [0..4], B = [5, 6], C = [7]: chunks [0,1,2] [3,4] [5,6] [7]
    ds = _Images([5, 2, 1])
    s = _sampler(ds, batch_size=4, max_per_image=3, shuffle=False)
    assert s.groups == [[0, 1, 2, 3, 4], [5, 6], [7]]
    assert s.batches() == [[0, 1, 2, 7], [3, 4, 5, 6]]
    assert list(s) == [0, 1, 2, 7, 3, 4, 5, 6] and len(s) == 8
    # two ranks: one batch each, a chunk never crosses ranks
    ranks = [
        list(
            _sampler(
                ds,
                r,
                2,
                monkeypatch,
                batch_size=4,
                max_per_image=3,
                shuffle=False,
            )
        )
        for r in (0, 1)
    ]
    assert ranks == [[0, 1, 2, 7], [3, 4, 5, 6]]


def test_split_when_no_chunk_fits_and_round_up():
    # chunks [0,1,2] [3,4,5] [6,7,8]; batch 4: [0,1,2] + 3 (split of
    # [3,4,5]), then [4,5] + ... [6,7,8] does not fit in 2: split again
    ds = _Images([3, 3, 3])
    s = _sampler(ds, batch_size=4, max_per_image=3, shuffle=False)
    assert s.pack(s._chunks(None)) == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8],
    ]
    # the short last batch is filled from the start of the epoch's order
    assert s.batches()[-1] == [8, 0, 1, 2]
    assert len(s) == 12


@pytest.mark.parametrize('world_size', [1, 2, 3])
def test_groups_kept_and_each_sample_once(monkeypatch, world_size):
    sizes = [1, 2, 3, 4, 5, 1, 3, 2, 6, 1, 1, 3]
    ds = _Images(sizes)
    n = sum(sizes)
    bs, m = 6, 3
    shards = []
    for rank in range(world_size):
        s = _sampler(
            ds, rank, world_size, monkeypatch, batch_size=bs, max_per_image=m
        )
        s.set_epoch(3)
        idx = list(s)
        assert len(idx) == len(s) and len(idx) % bs == 0
        shards.append(idx)
    lengths = {len(x) for x in shards}
    assert len(lengths) == 1  # every rank runs the same number of steps
    seen = Counter(i for x in shards for i in x)
    assert set(seen) == set(range(n))  # every sample, the padding aside
    assert sum(seen.values()) - n < bs * world_size
    # pieces of one image in one batch: as many as possible (max_per_image)
    together = 0
    for idx in shards:
        for batch in _split(idx, bs):
            counts = Counter(_images_of(ds, batch))
            together += sum(min(c, m) for c in counts.values() if c > 1)
    # the images with >= 2 samples could give at most this many pairs
    assert together >= 0.8 * sum(min(k, m) for k in sizes if k > 1)


def test_epochs_reshuffle_same_on_all_ranks(monkeypatch):
    ds = _Images([2] * 20)
    a = _sampler(ds, 0, 2, monkeypatch, batch_size=4, max_per_image=2)
    b = _sampler(ds, 1, 2, monkeypatch, batch_size=4, max_per_image=2)
    first = (list(a), list(b))
    assert not set(first[0]) & set(first[1])
    assert sorted(first[0] + first[1]) == list(range(40))
    a.set_epoch(1)
    b.set_epoch(1)
    second = (list(a), list(b))
    assert second != first
    assert sorted(second[0] + second[1]) == list(range(40))
    a.set_epoch(0)
    assert list(a) == first[0]  # seeded by seed + epoch
    # every batch holds two whole images (chunks of 2 fill batches of 4)
    for batch in _split(second[0], 4):
        assert sorted(Counter(_images_of(ds, batch)).values()) == [2, 2]


def test_grefcoco_refs_random_text_and_concat(refer_root):
    # text_mode='random': one entry per ref; refs 100..103 show image 1
    with DefaultScope.overwrite_default_scope('mmgres'):
        ds = DATASETS.build(
            dataset_cfg(refer_root, 'grefcoco', text_mode='random')
        )
        s = DATA_SAMPLERS.build(
            dict(type='ImageGroupedSampler', batch_size=4, max_per_image=4),
            default_args=dict(dataset=ds, seed=0),
        )
    assert s.groups == [[0, 1, 2, 3]]
    assert sorted(s) == [0, 1, 2, 3]
    # val refs 104, 105 show image 2 and 106 image 3; image ids of two
    # datasets are kept apart
    with DefaultScope.overwrite_default_scope('mmgres'):
        val = DATASETS.build(
            dataset_cfg(
                refer_root, 'grefcoco', text_mode='random', split='val'
            )
        )
    s = ImageGroupedSampler(
        ConcatDataset([ds, val, ds]), batch_size=2, shuffle=False, seed=0
    )
    assert s.groups == [[0, 1, 2, 3], [4, 5], [6], [7, 8, 9, 10]]


def test_bad_arguments():
    ds = _Images([1])
    with pytest.raises(ValueError):
        ImageGroupedSampler(ds, batch_size=0, seed=0)
    with pytest.raises(ValueError):
        ImageGroupedSampler(ds, batch_size=2, max_per_image=0, seed=0)
    with pytest.raises(KeyError):
        ImageGroupedSampler(_Images([1], key='other'), batch_size=1, seed=0)
