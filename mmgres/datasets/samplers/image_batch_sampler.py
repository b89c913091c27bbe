# Copyright (c) mmgres contributors. All rights reserved.
"""Evaluation in batches of one image: all its samples, nothing else.

The GSVA release (``data/dataset.py: ValDataset``, ``solver.py:
eval_gres``) evaluates an image's expressions in one teacher-forced
dialogue. :class:`mmgres.models.GSVA` with ``test_cfg.protocol='release'``
puts the samples of the batch that share an image in one dialogue, so the
dataloader must hand it exactly one image's samples per batch:

- :class:`ImageShardSampler` (``sampler``) gives each rank whole images,
  without padding, so no sample is seen twice and none is cut off;
- :class:`ImageBatchSampler` (``batch_sampler``) makes one batch of each
  image's samples.

In a config::

    val_dataloader = dict(
        batch_size=1,  # passed on by the Runner; a batch is one image
        sampler=dict(_delete_=True, type='ImageShardSampler'),
        batch_sampler=dict(type='ImageBatchSampler'),
        ...)

Distributed evaluation and result order: mmengine's ``collect_results``
zips the ranks' result lists (rank 0's first, rank 1's first, ..., then the
seconds) and cuts the total to ``len(dataset)``. That recovers the dataset
order only for ``DefaultSampler``'s interleaved shards; no assignment that
keeps an image's samples on one rank can be recovered that way. Since these
samplers neither pad nor drop, the collected list holds every sample exactly
once, in another order. ``GRESMetric`` reduces each sample to five
integers and sums them (gIoU: a float mean, equal up to rounding), so its
results do not depend on the order; a metric that does must not be used
with these samplers on several ranks.
"""

from collections import OrderedDict
from typing import Dict, Hashable, Iterator, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from mmgres.registry import DATA_SAMPLERS

#: Keys of a sample that name its image; the first one present is used.
IMAGE_KEYS = ('img_id', 'img_path')


def sample_image(dataset, idx: int) -> Hashable:
    """The image of sample ``idx``, read from its annotation (no image is
    loaded; a serialized dataset is read the same way): the value of the
    first of :data:`IMAGE_KEYS` that the sample has. An entry holding
    ``samples`` (a ref in ``text_mode='random'``) is keyed by its first
    sample's image.

    Args:
        dataset (Sized): An mmengine ``BaseDataset`` (also a
            ``ConcatDataset`` of them, whose dataset index becomes part of
            the key) or any dataset with ``get_data_info``.
        idx (int): The sample index.

    Returns:
        Hashable: The value of that key, ``(dataset index, value)`` for a
        ``ConcatDataset``.

    Raises:
        KeyError: The sample has none of :data:`IMAGE_KEYS`.
    """
    part, local = None, idx
    if isinstance(dataset, ConcatDataset):
        part, local = dataset._get_ori_dataset_idx(idx)
        dataset = dataset.datasets[part]
    if isinstance(dataset, BaseDataset) and (
        type(dataset)._serialize_data is BaseDataset._serialize_data
    ):
        # the base method: a subclass may read files to complete a sample
        # (SemSegReferDataset's label maps), which the image key needs not
        info = BaseDataset.get_data_info(dataset, local)
    else:
        # a dataset with its own storage (the referring datasets) reads its
        # entries itself; in text_mode='random' it draws a sentence of the
        # ref with numpy's global generator: all of them show the ref's
        # image, and the draw must not move the generator
        state = np.random.get_state()
        try:
            info = dataset.get_data_info(local)
        finally:
            np.random.set_state(state)
    if info.get('samples'):  # a ref of text_mode='random': one image
        info = info['samples'][0]
    for key in IMAGE_KEYS:
        if key in info:
            return info[key] if part is None else (part, info[key])
    raise KeyError(
        f'Sample {idx} has none of the image keys {IMAGE_KEYS}; '
        f'its keys are {sorted(info)}.'
    )


def group_by_image(
    indices: Sequence[int], images: Dict[int, Hashable]
) -> List[List[int]]:
    """Group ``indices`` by image: images in order of first appearance,
    each image's indices in the given order.

    Example:
        >>> group_by_image([0, 1, 2, 3], {0: 'a', 1: 'b', 2: 'a', 3: 'c'})
        [[0, 2], [1], [3]]
    """
    groups: Dict[Hashable, List[int]] = OrderedDict()
    for idx in indices:
        groups.setdefault(images[idx], []).append(idx)
    return list(groups.values())


@DATA_SAMPLERS.register_module()
class ImageShardSampler(Sampler):
    """Split a dataset across ranks by whole images, in dataset order.

    The images, in order of their first sample in the dataset, go to the
    ranks in turn (image ``k`` to rank ``k % world_size``), as the GSVA
    release's ``DistributedSampler(shuffle=False)`` hands out its
    one-image items. A rank yields the samples of its images, image by
    image, each image's samples in dataset order (for gRefCOCO: its refs in
    file order, each ref's sentences in order, which is how the release's
    ``ValDataset`` lists them). Unlike ``DistributedSampler`` and mmengine's
    ``DefaultSampler`` nothing is padded: the ranks may get different
    numbers of samples, and every sample is seen exactly once (the release
    repeats images to even the ranks out, counting some twice).

    Worked example: image A = samples [0, 1, 4], B = [2], C = [3], two
    ranks: rank 0 yields [0, 1, 4, 3] (A, C), rank 1 yields [2] (B).

    Args:
        dataset (Sized): The dataset; see :func:`sample_image`.
        seed (int, optional): Unused: the order is fixed. Accepted because
            mmengine's ``Runner.build_dataloader`` passes one to every
            sampler.
    """

    def __init__(
        self,
        dataset,
        seed: Optional[int] = None,
    ) -> None:
        del seed  # see the docstring
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        if isinstance(dataset, BaseDataset):
            dataset.full_init()
        #: the image of every sample, by index
        self.images: Dict[int, Hashable] = {
            i: sample_image(dataset, i) for i in range(len(dataset))
        }
        #: every image's samples, all ranks
        self.groups = group_by_image(range(len(dataset)), self.images)
        #: this rank's images' samples
        self.rank_groups = self.groups[self.rank :: self.world_size]
        self.num_samples = sum(len(g) for g in self.rank_groups)

    def __iter__(self) -> Iterator[int]:
        return iter([i for group in self.rank_groups for i in group])

    def __len__(self) -> int:
        """Samples this rank yields."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the order does not change with the epoch."""


@DATA_SAMPLERS.register_module()
class ImageBatchSampler(Sampler):
    """One batch per image: all the samples of an image that the sampler
    yields, in the sampler's order, and nothing else.

    The batches vary in size: there is no padding, no cap and no round-up.
    Batches follow the images' first appearance in the sampler's order.

    With more than one rank the sampler must keep an image's samples on one
    rank: it must be an :class:`ImageShardSampler`. With one rank any
    sampler that yields each index once works (e.g. ``DefaultSampler``,
    whose unshuffled order is the dataset order).

    Worked example: a sampler yielding [0, 1, 2, 3, 4] where samples 0, 1,
    4 show image A, 2 image B and 3 image C gives the batches [0, 1, 4],
    [2], [3].

    Args:
        sampler (Sampler): The sampler, with a ``dataset`` attribute.
        batch_size (int, optional): Unused: a batch holds one image's
            samples, however many. Accepted because mmengine's
            ``Runner.build_dataloader`` passes the dataloader's
            ``batch_size`` to every batch sampler.

    Raises:
        ValueError: Several ranks and a sampler that is not an
            :class:`ImageShardSampler`; or a sampler without ``dataset``.
    """

    def __init__(
        self,
        sampler: Sampler,
        batch_size: Optional[int] = None,
    ) -> None:
        del batch_size  # see the docstring
        _, world_size = get_dist_info()
        if world_size > 1 and not isinstance(sampler, ImageShardSampler):
            raise ValueError(
                'ImageBatchSampler with several ranks needs '
                "sampler=dict(type='ImageShardSampler'), which keeps an "
                f'image on one rank; got {type(sampler).__name__}, which '
                "may split an image's samples across ranks."
            )
        dataset = getattr(sampler, 'dataset', None)
        if dataset is None:
            raise ValueError(
                f'ImageBatchSampler needs a sampler with a dataset '
                f'attribute; {type(sampler).__name__} has none.'
            )
        self.sampler = sampler
        if isinstance(sampler, ImageShardSampler):
            self.images = sampler.images
        else:
            if isinstance(dataset, BaseDataset):
                dataset.full_init()
            self.images = {
                i: sample_image(dataset, i) for i in range(len(dataset))
            }

    def batches(self) -> List[List[int]]:
        """This rank's batches."""
        indices = list(self.sampler)
        if len(set(indices)) != len(indices):
            raise ValueError(
                f'{type(self.sampler).__name__} yields some indices more '
                'than once (padding?); ImageBatchSampler would evaluate '
                'those samples twice.'
            )
        return group_by_image(indices, self.images)

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        """Batches (images) this rank yields."""
        if isinstance(self.sampler, ImageShardSampler):
            return len(self.sampler.rank_groups)
        return len(self.batches())
