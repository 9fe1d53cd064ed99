"""Labelled and unlabelled streams in one batch: :class:`SemiDataset` and
:class:`SemiSampler` (see :mod:`d3l.datasets.semi`)."""
from __future__ import annotations

import bisect
import copy
import math
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Dataset, Sampler

from d3l.registry import DATA_SAMPLERS, DATASETS

from .streams import build_dataset, derive_streams
from .views import configure_views


@DATASETS.register_module()
class SemiDataset(Dataset):
    """Labelled + unlabelled streams (and views) for semi-supervised training.

    Index it with the ``(labeled_index, unlabeled_indices)`` pairs of
    :class:`SemiSampler`; it returns ``[labelled item, unlabelled items...]``.
    Without an unlabelled stream a plain integer index (``DefaultSampler``)
    works too and returns one item.

    Args:
        labeled: dataset config, or a list of them (concatenated, e.g. the
            labelled scenes and a :class:`PseudoLabelDataset`).
        unlabeled: dataset config of the unlabelled stream, or a dict
            without ``type``: overrides of the (first) labelled config, e.g.
            ``dict(subset='unlabeled')`` for the task's other scenes / shapes.
            Its labels are hidden (set to 255) whatever the dataset provides.
        pseudo_labeled: ``dict(label_root=..., label_name=..., **overrides)``
            appends a :class:`PseudoLabelDataset` over the first labelled
            config with the overrides (default ``subset='unlabeled'``): the
            paper's LR recipe, where the other scenes are trained on their
            confident pseudo-labels and the rest of their points are the
            unlabelled data.
        num_views: views per sample (2 for the mean teacher).
        unlabeled_subset: use only a fixed random subset of the unlabelled
            stream: a count (int) or a fraction (float in (0, 1]).
        subset_seed: seed of that subset.
    """

    def __init__(self, labeled: Union[dict, Sequence[dict]], unlabeled: Optional[dict] = None,
                 num_views: int = 1, unlabeled_subset: Union[int, float, None] = None,
                 subset_seed: int = 0, pseudo_labeled: Optional[dict] = None):
        if num_views < 1:
            raise ValueError(f'SemiDataset: num_views must be >= 1, got {num_views}')
        labeled_cfgs, unlabeled = derive_streams(labeled, unlabeled, pseudo_labeled)
        self.labeled = [build_dataset(cfg) for cfg in labeled_cfgs]
        self.unlabeled = build_dataset(unlabeled) if unlabeled is not None else None
        self.num_views = num_views
        views = dict(num_views=num_views, add_point_index=num_views > 1)
        for dataset in self.labeled:
            configure_views(dataset, stream='labeled', **views)
        sizes = [len(d) for d in self.labeled]
        if min(sizes) == 0:
            raise ValueError(f'SemiDataset: a labelled dataset is empty (sizes {sizes})')
        self._ends = np.cumsum(sizes).tolist()
        self.unlabeled_indices: List[int] = []
        if self.unlabeled is not None:
            configure_views(self.unlabeled, stream='unlabeled', hide_labels=True, **views)
            self.unlabeled_indices = self._choose_subset(len(self.unlabeled), unlabeled_subset,
                                                         subset_seed)
        elif unlabeled_subset is not None:
            raise ValueError('SemiDataset: unlabeled_subset needs an unlabeled dataset')

    @staticmethod
    def _choose_subset(size: int, subset, seed: int) -> List[int]:
        if size == 0:
            raise ValueError('SemiDataset: the unlabeled dataset is empty')
        if subset is None:
            return list(range(size))
        if isinstance(subset, float):
            if not 0.0 < subset <= 1.0:
                raise ValueError(f'SemiDataset: a fractional unlabeled_subset must be in (0, 1], '
                                 f'got {subset}')
            count = max(1, int(round(subset * size)))
        else:
            count = int(subset)
            if not 0 < count <= size:
                raise ValueError(f'SemiDataset: unlabeled_subset={count} but the unlabeled '
                                 f'dataset has {size} samples')
        rng = np.random.default_rng(seed)
        return sorted(rng.choice(size, count, replace=False).tolist())

    # ------------------------------------------------------------------ sizes
    @property
    def num_labeled(self) -> int:
        return self._ends[-1]

    @property
    def num_unlabeled(self) -> int:
        return len(self.unlabeled_indices)

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.labeled[0], 'metainfo', {}))

    def full_init(self) -> None:
        for dataset in [*self.labeled, self.unlabeled]:
            if dataset is not None and hasattr(dataset, 'full_init'):
                dataset.full_init()

    def __len__(self) -> int:
        return self.num_labeled

    # ------------------------------------------------------------------ items
    def get_labeled(self, index: int):
        if not 0 <= index < self.num_labeled:
            raise IndexError(f'labeled index {index} out of range [0, {self.num_labeled})')
        part = bisect.bisect_right(self._ends, index)
        start = self._ends[part - 1] if part else 0
        return self.labeled[part][index - start]

    def get_unlabeled(self, index: int):
        """The ``index``-th sample of the (subset of the) unlabelled stream."""
        if self.unlabeled is None:
            raise IndexError('SemiDataset has no unlabeled stream')
        return self.unlabeled[self.unlabeled_indices[index]]

    def __getitem__(self, index: Union[int, Tuple[int, Sequence[int]]]):
        if isinstance(index, (tuple, list)):
            labeled_index, unlabeled = index
        else:
            if self.unlabeled is not None:
                raise TypeError(
                    'SemiDataset with an unlabeled stream is indexed by (labeled, unlabeled) '
                    'pairs: use sampler=dict(type="SemiSampler") in train_dataloader')
            labeled_index, unlabeled = index, ()
        item = self.get_labeled(int(labeled_index))
        if not unlabeled:
            return item
        return [item, *(self.get_unlabeled(int(j)) for j in unlabeled)]


@DATA_SAMPLERS.register_module()
class SemiSampler(Sampler):
    """Yields ``(labeled_index, (unlabeled_index, ...))`` for :class:`SemiDataset`.

    Labelled indices follow ``DefaultSampler`` (a fresh permutation per
    epoch from ``seed + epoch``, split over ranks, rounded up). Unlabelled
    indices walk through fresh permutations of the unlabelled stream, cycled
    as needed, so every epoch sees new unlabelled samples and no rank sees
    the same one twice before the stream is exhausted.

    Args:
        dataset: a :class:`SemiDataset`.
        num_unlabeled: unlabelled samples per labelled one (0 disables the
            stream).
        shuffle: shuffle the labelled order.
        seed: shared seed (synchronised over ranks when None).
        epoch_length: labelled samples per epoch (all ranks together);
            defaults to the labelled set's size. With few labelled scenes
            (LR 1 %) a larger value makes an epoch see more unlabelled data.
    """

    def __init__(self, dataset: SemiDataset, num_unlabeled: int = 1, shuffle: bool = True,
                 seed: Optional[int] = None, epoch_length: Optional[int] = None):
        if not isinstance(dataset, SemiDataset):
            raise TypeError(f'SemiSampler needs a SemiDataset, got {type(dataset).__name__}')
        if num_unlabeled < 0:
            raise ValueError(f'SemiSampler: num_unlabeled must be >= 0, got {num_unlabeled}')
        if num_unlabeled > 0 and dataset.num_unlabeled == 0:
            raise ValueError('SemiSampler: num_unlabeled > 0 but the SemiDataset has no '
                             'unlabeled stream (set num_unlabeled=0 or add one)')
        if epoch_length is not None and epoch_length < 1:
            raise ValueError(f'SemiSampler: epoch_length must be >= 1, got {epoch_length}')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.num_unlabeled = num_unlabeled
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.epoch_length = epoch_length or dataset.num_labeled
        self.num_samples = math.ceil(self.epoch_length / self.world_size)
        self.total_size = self.num_samples * self.world_size

    def _walk(self, size: int, count: int, generator: torch.Generator) -> List[int]:
        """``count`` indices from back-to-back permutations of ``range(size)``."""
        out: List[int] = []
        while len(out) < count:
            out += (torch.randperm(size, generator=generator).tolist() if self.shuffle
                    else list(range(size)))
        return out[:count]

    def __iter__(self) -> Iterator[Tuple[int, Tuple[int, ...]]]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        labeled = self._walk(self.dataset.num_labeled, self.epoch_length, generator)
        labeled = (labeled * (self.total_size // len(labeled) + 1))[:self.total_size]
        k = self.num_unlabeled
        unlabeled = (self._walk(self.dataset.num_unlabeled, self.total_size * k, generator)
                     if k else [])
        for position in range(self.rank, self.total_size, self.world_size):
            yield labeled[position], tuple(unlabeled[position * k:(position + 1) * k])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
