"""RatioMixtureSampler: sources drawn by ratio (GSVA appendix, 9:6:3:1),
a permutation walk within each source, disjoint equal rank shares, and a
stream that a resumed run reproduces exactly."""

from collections import Counter

import numpy as np
import pytest
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.runner import loops
from torch.utils.data import DataLoader

from mmgres.datasets.samplers import RatioMixtureSampler
from mmgres.datasets.samplers import ratio_sampler as module
from mmgres.registry import DATA_SAMPLERS


class _Range(BaseDataset):
    """``n`` samples whose ``v`` is their global index in the concat."""

    def __init__(self, n, offset=0):
        self.n, self.offset = n, offset
        super().__init__(pipeline=[], serialize_data=False)

    def load_data_list(self):
        return [{'v': self.offset + j} for j in range(self.n)]


def _concat(sizes):
    starts = np.cumsum([0] + list(sizes))
    return ConcatDataset([_Range(n, int(s)) for n, s in zip(sizes, starts)])


def _sampler(dataset, rank=0, world_size=1, monkeypatch=None, **kwargs):
    if monkeypatch is not None:
        monkeypatch.setattr(
            module, 'get_dist_info', lambda: (rank, world_size)
        )
    kwargs.setdefault('seed', 0)
    return RatioMixtureSampler(dataset, **kwargs)


def _source(index, sizes):
    return int(np.searchsorted(np.cumsum(sizes), index, side='right'))


def test_gsva_ratio_9_6_3_1():
    # GSVA appendix (pre-training): SemSeg 9, RES 6, VQA 3, ReasonSeg 1;
    # expected shares 9/19 = .4737, 6/19 = .3158, 3/19 = .1579,
    # 1/19 = .0526 (binomial std at 10,000 draws <= .005)
    sizes = [50, 40, 30, 20]
    s = _sampler(_concat(sizes), ratios=[9, 6, 3, 1], samples_per_epoch=10000)
    draws = list(s)
    assert len(draws) == len(s) == 10000
    counts = Counter(_source(i, sizes) for i in draws)
    for k, expected in enumerate([9 / 19, 6 / 19, 3 / 19, 1 / 19]):
        assert abs(counts[k] / 10000 - expected) < 0.02


def test_global_indices_and_default_length():
    # sizes [3, 2]: source 0 owns global 0..2, source 1 owns 3..4
    ds = _concat([3, 2])
    s = _sampler(ds, ratios=[1, 1])
    assert len(s) == len(ds) == 5  # samples_per_epoch defaults to len
    stream = s.global_stream()
    for i, k in zip(stream, s.sources(0)):
        assert i in ((0, 1, 2) if k == 0 else (3, 4))
    # one source of one sample: every draw is that sample
    assert list(_sampler(_concat([1, 4]), ratios=[1e9, 1e-9])) == [0] * 5


def test_no_repeat_within_a_source_until_it_is_used_up():
    # across two epochs: each source's draws, cut into runs of its size,
    # are permutations (the last run a part of one)
    sizes = [7, 5, 3]
    s = _sampler(_concat(sizes), ratios=[3, 2, 1], samples_per_epoch=40)
    stream = []
    for epoch in (0, 1):
        s.set_epoch(epoch)
        stream += list(s)
    for k, n in enumerate(sizes):
        own = [i for i in stream if _source(i, sizes) == k]
        assert len(own) > n  # each source wraps around at least once
        for a in range(0, len(own), n):
            run = own[a : a + n]
            assert len(set(run)) == len(run)
            if len(run) == n:
                start = sum(sizes[:k])
                assert sorted(run) == list(range(start, start + n))


def test_two_ranks_share_the_one_rank_stream(monkeypatch):
    # 11 draws on 2 ranks round up to 12: 6 each, disjoint positions of the
    # one-rank stream of 12 draws, in every epoch
    ds = _concat([6, 4, 3])
    kw = dict(ratios=[2, 1, 1])
    one = _sampler(ds, 0, 1, monkeypatch, samples_per_epoch=12, **kw)
    ranks = [
        _sampler(ds, r, 2, monkeypatch, samples_per_epoch=11, **kw)
        for r in (0, 1)
    ]
    assert [len(r) for r in ranks] == [6, 6]
    for epoch in (0, 1, 2):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        full = list(one)
        shares = [list(r) for r in ranks]
        assert shares[0] == full[0::2] and shares[1] == full[1::2]


def test_deterministic_in_seed_and_epoch():
    ds = _concat([10, 10])
    a = _sampler(ds, ratios=[1, 1], samples_per_epoch=20)
    first = list(a)
    assert list(a) == first  # iterating changes nothing
    a.set_epoch(1)
    second = list(a)
    assert second != first
    assert not np.array_equal(a.sources(0), a.sources(1))
    # a fresh sampler jumping straight to epoch 1 gives the same stream
    b = _sampler(ds, ratios=[1, 1], samples_per_epoch=20)
    b.set_epoch(1)
    assert list(b) == second
    a.set_epoch(0)
    assert list(a) == first
    assert list(_sampler(ds, ratios=[1, 1], seed=1)) != first


@pytest.mark.parametrize('kill_at', [2, 4, 7])
def test_iter_based_resume_equals_uninterrupted(monkeypatch, kill_at):
    # IterBasedTrainLoop: _InfiniteDataloaderIterator calls set_epoch(1),
    # set_epoch(2), ... when the sampler is exhausted; a resumed run builds
    # it afresh and skips the `iter` batches already trained.
    monkeypatch.setattr(loops.time, 'sleep', lambda s: None)
    ds = _concat([5, 4, 3])

    def batches(skip, n):
        s = _sampler(ds, ratios=[9, 6, 3], samples_per_epoch=10)
        loader = DataLoader(
            ds,
            batch_size=4,  # 3 batches per epoch, the last one short
            sampler=s,
            collate_fn=lambda b: [x['v'] for x in b],
        )
        it = loops._InfiniteDataloaderIterator(loader)
        for _ in range(skip):
            next(it)
        return [next(it) for _ in range(n)]

    uninterrupted = batches(0, 10)
    assert [len(b) for b in uninterrupted[:3]] == [4, 4, 2]
    assert batches(kill_at, 10 - kill_at) == uninterrupted[kill_at:]


def test_built_from_registry():
    s = DATA_SAMPLERS.build(
        dict(
            type='RatioMixtureSampler',
            dataset=_concat([2, 2]),
            ratios=[1, 1],
            samples_per_epoch=6,
            seed=0,
        )
    )
    assert isinstance(s, RatioMixtureSampler) and len(s) == 6


def test_bad_input_is_named():
    ds = _concat([2, 2])
    with pytest.raises(ValueError, match='ratios has 3 entries.*2 datasets'):
        _sampler(ds, ratios=[1, 1, 1])
    with pytest.raises(ValueError, match='positive'):
        _sampler(ds, ratios=[1, 0])
    with pytest.raises(ValueError, match='positive'):
        _sampler(ds, ratios=[1, -2])
    with pytest.raises(TypeError, match='ConcatDataset'):
        _sampler(_Range(4), ratios=[1])
    with pytest.raises(ValueError, match='samples_per_epoch'):
        _sampler(ds, ratios=[1, 1], samples_per_epoch=0)
    with pytest.raises(ValueError, match=r'datasets \[1\].*empty'):
        _sampler(ConcatDataset([_Range(2), _Range(0)]), ratios=[1, 1])


class _Images(BaseDataset):
    """Samples ``v`` (global index) on images ``img_path``: ``per_image``
    gives how many samples each image has."""

    def __init__(self, per_image, offset=0, tag='a'):
        self.per_image, self.offset, self.tag = per_image, offset, tag
        super().__init__(pipeline=[], serialize_data=False)

    def load_data_list(self):
        out = []
        for img, n in enumerate(self.per_image):
            for _ in range(n):
                out.append(
                    {
                        'v': self.offset + len(out),
                        'img_path': f'{self.tag}{img}',
                    }
                )
        return out


def _image_concat():
    # source 0: images with 5, 1, 2 samples (units with max 3: [0,1,2],
    # [3,4], [5], [6,7]); source 1: one sample per image, max 1
    return ConcatDataset([_Images([5, 1, 2]), _Images([1, 1, 1], 8, 'b')])


def test_images_units_are_consecutive_and_cut_to_length(monkeypatch):
    ds = _image_concat()
    s = _sampler(ds, ratios=[1, 1], samples_per_epoch=12, max_per_image=[3, 1])
    assert s.units[0] == [[0, 1, 2], [3, 4], [5], [6, 7]]
    assert s.units[1] == [[0], [1], [2]]
    assert s.sizes == [4, 3]  # the chains walk units
    out = list(s)
    assert len(out) == len(s) == 12
    # the stream is the draws' units one after the other, cut at 12
    flat = [i for unit in s.global_stream() for i in unit]
    assert out == flat[:12]
    # every unit of source 0 appears whole, in order (but the last one)
    units0 = {tuple(u) for u in s.units[0]}
    i = 0
    while i < len(out) and out[i] < 8:
        unit = next(u for u in units0 if u[0] == out[i])
        assert tuple(out[i : i + len(unit)]) == unit[: len(out) - i]
        i += len(unit)
        while i < len(out) and out[i] >= 8:
            i += 1
    # two ranks: disjoint draws, each cut at its share
    ranks = [
        _sampler(
            ds, r, 2, monkeypatch, ratios=[1, 1], samples_per_epoch=12,
            max_per_image=[3, 1],
        )
        for r in (0, 1)
    ]  # fmt: skip
    draws = ranks[0].global_stream()
    for r, sampler in enumerate(ranks):
        mine = [i for unit in draws[r::2] for i in unit][:6]
        assert list(sampler) == mine and len(sampler) == 6


def test_images_ratio_counts_draws():
    # the release's rate is per drawn image: sources of 1-sample and
    # 3-sample images at 1 : 1 give units 1 : 1 (samples 1 : 3)
    ds = ConcatDataset([_Images([1] * 50), _Images([3] * 50, 50, 'b')])
    s = _sampler(ds, ratios=[1, 1], samples_per_epoch=10000, max_per_image=3)
    src = s.sources(0)
    assert abs(np.mean(src == 0) - 0.5) < 0.02
    draws = s.global_stream()
    assert {len(u) for u, k in zip(draws, src) if k == 1} == {3}


def test_images_resume(monkeypatch):
    monkeypatch.setattr(loops.time, 'sleep', lambda s: None)
    ds = _image_concat()

    def batches(skip, n):
        s = _sampler(ds, ratios=[2, 1], samples_per_epoch=7, max_per_image=3)
        loader = DataLoader(
            ds,
            batch_size=3,
            sampler=s,
            collate_fn=lambda b: [x['v'] for x in b],
        )
        it = loops._InfiniteDataloaderIterator(loader)
        for _ in range(skip):
            next(it)
        return [next(it) for _ in range(n)]

    full = batches(0, 9)
    assert batches(4, 5) == full[4:]
    with pytest.raises(ValueError, match='max_per_image'):
        _sampler(ds, ratios=[1, 1], max_per_image=[3])
