# Copyright (c) mmgres contributors. All rights reserved.
"""A sampler that keeps the expressions of one image in one batch."""

import math
from collections import deque
from typing import Dict, Iterator, List, Optional

import torch
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmgres.registry import DATA_SAMPLERS

from .image_batch_sampler import group_by_image, sample_image


@DATA_SAMPLERS.register_module()
class ImageGroupedSampler(Sampler):
    """Yield batches in which the expressions of an image sit together.

    Referring datasets give one expression (or one ref) per sample, while an
    MLLM such as GSVA asks about several expressions of one image in one
    dialogue (:meth:`mmgres.models.GSVA.group_dialogues` groups the samples
    of a batch that share an image). This sampler makes such batches:

    1. the samples are grouped by image (``img_id``, else ``img_path``;
       see :func:`~mmgres.datasets.samplers.image_batch_sampler.sample_image`);
    2. each epoch, with a generator seeded by ``seed + epoch`` (the same on
       every rank), the images are shuffled, each image's samples are
       shuffled and cut into *chunks* of at most ``max_per_image``, and the
       chunks are shuffled;
    3. the chunks are packed, in that order, into batches of exactly
       ``batch_size`` samples: a batch takes the earliest pending chunk that
       still fits in it; when none fits, the earliest chunk is split (its
       head ends this batch, its tail stays first in line), so every batch
       but the last is full;
    4. the last batch is filled from the start of the epoch's order and the
       number of batches is rounded up to a multiple of the world size (as
       mmengine's ``DefaultSampler`` with ``round_up=True``); rank ``r``
       takes batches ``r, r + W, ...``, so a chunk never crosses ranks.

    ``batch_size`` must equal the dataloader's ``batch_size``: the sampler
    yields flat indices, which the dataloader cuts into batches.

    Worked example (``batch_size=4``, ``max_per_image=3``, no shuffle, one
    rank): images A = [0, 1, 2, 3, 4], B = [5, 6], C = [7] give chunks
    [0, 1, 2], [3, 4], [5, 6], [7]; batch 1 = [0, 1, 2] + [7] (the first
    chunk that fits in the last place); batch 2 = [3, 4] + [5, 6]. With
    2 ranks, rank 0 gets batch 1 and rank 1 batch 2.

    Args:
        dataset (Sized): The dataset; see :func:`sample_image`.
        batch_size (int): Samples per batch on one rank (the dataloader's
            ``batch_size``).
        max_per_image (int, optional): Most samples of one image in one
            chunk (the MLLM's expressions per dialogue; GSVA: 5 in the
            paper, 3 in its release). Defaults to ``batch_size``.
        shuffle (bool): Shuffle images, samples and chunks each epoch.
            Defaults to True.
        seed (int, optional): Shuffle seed, the same on all ranks; None
            draws one and broadcasts it (``sync_random_seed``).
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        max_per_image: Optional[int] = None,
        shuffle: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}.')
        max_per_image = batch_size if max_per_image is None else max_per_image
        if max_per_image < 1:
            raise ValueError(
                f'max_per_image must be >= 1, got {max_per_image}.'
            )
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.max_per_image = min(int(max_per_image), self.batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.epoch = 0
        self.groups = self._group_by_image()
        self.num_samples_total = sum(len(g) for g in self.groups)
        num_batches = math.ceil(self.num_samples_total / self.batch_size)
        self.num_batches = (
            math.ceil(num_batches / self.world_size) * self.world_size
        )

    # ------------------------------------------------------------- grouping
    def _group_by_image(self) -> List[List[int]]:
        if isinstance(self.dataset, BaseDataset):
            self.dataset.full_init()
        images = {
            i: sample_image(self.dataset, i) for i in range(len(self.dataset))
        }
        return group_by_image(range(len(self.dataset)), images)

    # -------------------------------------------------------------- packing
    def _chunks(self, g: Optional[torch.Generator]) -> List[List[int]]:
        groups = self.groups
        if g is not None:
            order = torch.randperm(len(groups), generator=g).tolist()
            groups = [
                [
                    groups[i][j]
                    for j in torch.randperm(len(groups[i]), generator=g)
                ]
                for i in order
            ]
        m = self.max_per_image
        chunks = [
            group[k : k + m]
            for group in groups
            for k in range(0, len(group), m)
        ]
        if g is not None:
            perm = torch.randperm(len(chunks), generator=g).tolist()
            chunks = [chunks[i] for i in perm]
        return chunks

    def pack(self, chunks: List[List[int]]) -> List[List[int]]:
        """Pack chunks, in order, into batches of ``batch_size`` (the last
        one may be short); see the class docstring."""
        # one queue of chunk ids per chunk length, each in chunk order
        queues: Dict[int, deque] = {}
        pending = {i: list(c) for i, c in enumerate(chunks) if c}
        for i, c in pending.items():
            queues.setdefault(len(c), deque()).append(i)
        batches, batch = [], []
        while pending:
            space = self.batch_size - len(batch)
            fits = [queues[n][0] for n in queues if n <= space and queues[n]]
            if fits:
                i = min(fits)
                queues[len(pending[i])].popleft()
                batch.extend(pending.pop(i))
            else:  # split the earliest chunk
                i = min(q[0] for q in queues.values() if q)
                chunk = pending[i]
                queues[len(chunk)].popleft()
                batch.extend(chunk[:space])
                pending[i] = chunk[space:]
                queues.setdefault(len(pending[i]), deque()).appendleft(i)
            if len(batch) == self.batch_size:
                batches.append(batch)
                batch = []
        if batch:
            batches.append(batch)
        return batches

    def batches(self) -> List[List[int]]:
        """All ranks' batches of the current epoch, full and rounded up to
        a multiple of the world size."""
        g = None
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
        batches = self.pack(self._chunks(g))
        if not batches:
            return []
        flat = [i for b in batches for i in b]
        last = batches[-1]
        k = 0
        while len(last) < self.batch_size:  # fill from the start
            last.append(flat[k % len(flat)])
            k += 1
        num = len(batches)
        while len(batches) < self.num_batches:  # repeat from the start
            batches.append(list(batches[(len(batches) - num) % num]))
        return batches

    # ------------------------------------------------------------ interface
    def __iter__(self) -> Iterator[int]:
        batches = self.batches()[self.rank :: self.world_size]
        return iter([i for b in batches for i in b])

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        return self.num_batches // self.world_size * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch, which seeds the shuffle (with ``seed``)."""
        self.epoch = epoch
