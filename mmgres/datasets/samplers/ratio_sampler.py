# Copyright (c) mmgres contributors. All rights reserved.
"""A sampler that mixes the datasets of a ``ConcatDataset`` by fixed
ratios (GSVA's and LISA's pre-training mixture)."""

import math
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import ConcatDataset, Sampler

from mmgres.registry import DATA_SAMPLERS

from .image_batch_sampler import group_by_image, sample_image

# numpy's SeedSequence takes non-negative entropy words
_SEED_MASK = 2**63 - 1


@DATA_SAMPLERS.register_module()
class RatioMixtureSampler(Sampler):
    """Draw the samples of a ``ConcatDataset`` from its datasets by ratios.

    GSVA pre-trains on semantic segmentation, referring segmentation, VQA
    and reasoning segmentation sampled 9 : 6 : 3 : 1 (GSVA paper, appendix
    "Pretraining": "For each task, the sample is uniformly sampled across
    the dataset"). The official code (LeapLabTHU/GSVA ``data/dataset.py``,
    ``MixedTrainingDataset.__getitem__``, after LISA's ``HybridDataset``)
    picks the task of every sample independently with
    ``np.random.choice(n, p=sample_rate / sample_rate.sum())`` and has
    ``samples_per_epoch = batch_size * grad_accumulation_steps *
    steps_per_epoch * world_size`` samples per epoch.

    This sampler does the same over an mmengine ``ConcatDataset`` whose
    ``k``-th dataset is the ``k``-th source:

    1. epoch ``e`` is a *global stream* of ``T`` draws, ``T`` being
       ``samples_per_epoch`` rounded up to a multiple of the world size;
       the source of each draw is drawn i.i.d. with probabilities
       ``ratios / sum(ratios)`` by a generator seeded with
       ``(seed, 0, e)`` (as the official code);
    2. within a source, the draws walk an endless chain of permutations of
       that source (permutation ``c`` of source ``k`` is seeded with
       ``(seed, 1 + k, c)``), continuing across epochs, so no sample of a
       source repeats before the whole source has been used. Ours: the
       official code draws the sample within a task at random with
       replacement;
    3. the stream yields the ConcatDataset's global indices; rank ``r`` of
       ``W`` takes draws ``r, r + W, ...``, so the ranks get disjoint,
       equally long shares whose union is the one-rank stream of ``T``
       draws.

    **Determinism and resume.** The stream of epoch ``e`` is a function of
    ``(seed, e)`` only: the position in each source's permutation chain at
    the start of epoch ``e`` is recomputed from the source counts of
    epochs ``0 .. e-1`` (cached), and iterating does not change the
    sampler. Hence:

    - ``EpochBasedTrainLoop``: the runner restores the epoch and
      ``DistSamplerSeedHook`` calls :meth:`set_epoch` with it;
    - ``IterBasedTrainLoop``: the loop wraps the dataloader in
      ``_InfiniteDataloaderIterator``, which calls ``set_epoch(1)``,
      ``set_epoch(2)``, ... each time the (finite) sampler is exhausted. On
      resume it starts again from epoch 0 and skips the ``iter`` batches
      already trained, walking through the same epochs, so the stream
      after the skip equals the uninterrupted one.

    **Images** (``max_per_image``). The official code's draw is one
    *image* of the task with up to ``num_classes_per_sample=3`` of its
    classes, referring sentences or reasoning queries, which one dialogue
    asks about together (one conversation for VQA). With
    ``max_per_image`` set, the *units* of a source are its images' samples
    cut, in dataset order, into chunks of at most ``max_per_image[k]``
    (grouped by ``img_id``/``img_path``, :func:`sample_image`); a draw is
    one unit, and the ratios are ratios of draws, as in the official code.
    Rank ``r`` takes draws ``r, r + W, ...`` and yields their samples one
    unit after the other, cut at ``len(self)`` samples (the rest of the
    epoch's draws are skipped, never replayed: the chains advance by the
    draws, so determinism and resume are as above). A unit's samples are
    consecutive, so they land in one batch, and one GSVA dialogue, unless
    a batch boundary splits them.

    Both need the same ``seed`` after resume. The runner builds the
    dataloader before it loads the checkpoint, so a seed drawn at random
    (``randomness.seed`` unset and no ``seed`` here) differs after
    resume: set ``randomness=dict(seed=...)`` or this sampler's ``seed``.

    Args:
        dataset (ConcatDataset): One dataset per source.
        ratios (Sequence[float]): Positive weight of each source, in the
            order of ``dataset.datasets`` (GSVA: ``[9, 6, 3, 1]``).
        samples_per_epoch (int, optional): Draws per epoch over all
            ranks. Defaults to ``len(dataset)`` (ours; the official code
            derives it from the steps per epoch, see above).
        seed (int, optional): The same on all ranks; None draws one and
            broadcasts it (``sync_random_seed``).
        max_per_image (int | Sequence[int], optional): Draw images, with
            at most this many of their samples (one value, or one per
            source; the GSVA release: 3, and 1 for VQA). Defaults to None:
            a draw is one sample.
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        ratios: Sequence[float],
        samples_per_epoch: Optional[int] = None,
        seed: Optional[int] = None,
        max_per_image: Union[int, Sequence[int], None] = None,
    ) -> None:
        if not isinstance(dataset, ConcatDataset):
            raise TypeError(
                'RatioMixtureSampler needs a ConcatDataset (one dataset per '
                f'ratio), got {type(dataset).__name__}.'
            )
        sizes = [len(d) for d in dataset.datasets]
        ratios = [float(r) for r in ratios]
        if len(ratios) != len(sizes):
            raise ValueError(
                f'ratios has {len(ratios)} entries but the ConcatDataset '
                f'has {len(sizes)} datasets; give one ratio per dataset.'
            )
        if not all(math.isfinite(r) and r > 0 for r in ratios):
            raise ValueError(
                f'ratios must all be positive and finite, got {ratios}.'
            )
        empty = [k for k, n in enumerate(sizes) if n == 0]
        if empty:
            raise ValueError(
                f'datasets {empty} of the ConcatDataset are empty; every '
                'source needs at least one sample.'
            )
        if samples_per_epoch is None:
            samples_per_epoch = len(dataset)
        if int(samples_per_epoch) < 1:
            raise ValueError(
                f'samples_per_epoch must be >= 1, got {samples_per_epoch}.'
            )
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        #: the units of each source (lists of local indices), or None
        self.units = self._image_units(dataset, max_per_image)
        if self.units is not None:
            sizes = [len(u) for u in self.units]
        self.sizes = sizes
        self.starts = [0] + list(dataset.cumulative_sizes[:-1])
        self.probs = np.asarray(ratios) / sum(ratios)
        self.samples_per_epoch = int(samples_per_epoch)
        self.total_size = (
            math.ceil(self.samples_per_epoch / self.world_size)
            * self.world_size
        )
        self.num_samples = self.total_size // self.world_size
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        # draws of each source in epochs 0, 1, ... (computed on demand)
        self._counts: List[np.ndarray] = []

    @staticmethod
    def _image_units(dataset, max_per_image):
        if max_per_image is None:
            return None
        n = len(dataset.datasets)
        if isinstance(max_per_image, int):
            max_per_image = [max_per_image] * n
        max_per_image = [int(m) for m in max_per_image]
        if len(max_per_image) != n or min(max_per_image) < 1:
            raise ValueError(
                'max_per_image must be a positive int or one positive int '
                f'per dataset ({n}), got {max_per_image}.'
            )
        units = []
        for part, m in zip(dataset.datasets, max_per_image):
            if isinstance(part, BaseDataset):
                part.full_init()
            images = {i: sample_image(part, i) for i in range(len(part))}
            groups = group_by_image(range(len(part)), images)
            units.append(
                [g[i : i + m] for g in groups for i in range(0, len(g), m)]
            )
        return units

    # -------------------------------------------------------------- streams
    def sources(self, epoch: int) -> np.ndarray:
        """Source of each of the ``total_size`` draws of an epoch."""
        rng = np.random.default_rng([self.seed & _SEED_MASK, 0, epoch])
        return rng.choice(len(self.sizes), size=self.total_size, p=self.probs)

    def _offsets(self, epoch: int) -> np.ndarray:
        """Draws of each source before ``epoch``: where each source's
        permutation chain continues."""
        while len(self._counts) < epoch:
            src = self.sources(len(self._counts))
            self._counts.append(np.bincount(src, minlength=len(self.sizes)))
        if epoch == 0:
            return np.zeros(len(self.sizes), dtype=np.int64)
        return np.sum(self._counts[:epoch], axis=0)

    def source_indices(self, k: int, start: int, n: int) -> np.ndarray:
        """Items ``start .. start + n - 1`` of source ``k``'s chain of
        permutations, as indices local to that source."""
        size = self.sizes[k]
        out, cycle, pos = [], start // size, start % size
        while n > 0:
            rng = np.random.default_rng([self.seed & _SEED_MASK, 1 + k, cycle])
            take = rng.permutation(size)[pos : pos + n]
            out.append(take)
            n -= len(take)
            cycle, pos = cycle + 1, 0
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def global_stream(self) -> List[int]:
        """All ranks' draws of the current epoch, in draw order: global
        indices, or, with ``max_per_image``, lists of global indices (one
        unit each)."""
        src = self.sources(self.epoch)
        offsets = self._offsets(self.epoch)
        stream = np.empty(self.total_size, dtype=np.int64)
        for k in range(len(self.sizes)):
            where = np.flatnonzero(src == k)
            local = self.source_indices(k, int(offsets[k]), len(where))
            stream[where] = local + self.starts[k]
        if self.units is None:
            return stream.tolist()
        return [
            [self.starts[k] + i for i in self.units[k][u - self.starts[k]]]
            for k, u in zip(src.tolist(), stream.tolist())
        ]

    # ------------------------------------------------------------ interface
    def __iter__(self) -> Iterator[int]:
        draws = self.global_stream()[self.rank :: self.world_size]
        if self.units is None:
            return iter(draws)
        flat = [i for unit in draws for i in unit]
        return iter(flat[: self.num_samples])

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which (with ``seed``) fixes the stream."""
        self.epoch = epoch
