"""Semi-supervised data: labelled and unlabelled streams in one batch, two
augmented views of every cloud, and pseudo-labelled scenes.

- :class:`SemiDataset` wraps the task's own datasets (their pipelines
  unchanged): a labelled stream (one dataset or several, e.g. the LR scenes
  plus the pseudo-labelled ones) and an optional unlabelled stream (LR: the
  other scenes, or a random subset of them; ModelNet40 / ShapeNet part: the
  remaining training shapes). In LA there is no second stream: the points
  outside the annotation (label 255) are the unlabelled data.
- :class:`SemiSampler` draws, for every labelled sample, ``num_unlabeled``
  samples of the unlabelled stream (fresh permutations every epoch, split
  over distributed ranks); ``point_collate`` flattens the groups, so a batch
  of ``batch_size`` labelled samples holds ``batch_size * (1 +
  num_unlabeled)`` clouds.
- With ``num_views=2`` every sample is loaded once and the rest of its
  pipeline (augmentation, sampling, packing) runs once per view; each point
  carries ``point_index`` (its row in the loaded cloud) so the mean teacher
  can match the student's view to the teacher's point to point even when
  the views were subsampled differently.
- :class:`PseudoLabelDataset` replaces a dataset's labels by the files of
  ``tools/make_confident_pseudo_labels.py``.
"""
from __future__ import annotations

import bisect
import copy
import math
import os.path as osp
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.registry import DefaultScope
from torch.utils.data import Dataset, Sampler

from d3l.registry import DATA_SAMPLERS, DATASETS
from d3l.semi.confident import (
    IGNORE_INDEX,
    load_pseudo_labels,
    pseudo_label_path,
    sample_key,
)
from d3l.semi.streams import derive_streams

STREAMS = ('labeled', 'pseudo', 'unlabeled')
#: data-sample keys that hold ground truth; hidden in the unlabelled stream
LABEL_KEYS = ('labels', 'origin_labels', 'label')


class ViewPipeline:
    """Stands in for a dataset's pipeline: runs the loading transforms once
    (up to the first one after which the sample has ``points``; none when
    the dataset's ``get_data_info`` already loads them), then the remaining
    transforms once per view, on independent copies.

    Args:
        pipeline: the dataset's pipeline (an MMEngine ``Compose`` or a list
            of callables); it must end with ``PackPointInputs``.
        num_views: 1 returns the packed sample unchanged; 2 or more return
            ``{'inputs': [view inputs], 'data_samples': view-0 sample with
            'views': [per-view samples]}``.
        add_point_index: store ``point_index`` (row in the loaded cloud).
        on_load: callables ``results -> results`` run right after loading
            (e.g. to replace the labels by pseudo-labels).
        stream: written to ``data_samples['metainfo']['stream']``.
        hide_labels: set every ground-truth target to the ignore label.
    """

    def __init__(self, pipeline, num_views: int = 1, add_point_index: bool = False,
                 on_load: Sequence[Callable[[dict], dict]] = (),
                 stream: Optional[str] = None, hide_labels: bool = False, owner: str = ''):
        self.transforms = list(getattr(pipeline, 'transforms', pipeline) or [])
        self.num_views = num_views
        self.add_point_index = add_point_index
        self.on_load = list(on_load)
        self.stream = stream
        self.hide_labels = hide_labels
        self.owner = owner

    def __call__(self, results: dict) -> Optional[dict]:
        step = 0
        while 'points' not in results and step < len(self.transforms):
            results = self.transforms[step](results)
            step += 1
            if results is None:
                return None
        if 'points' not in results:
            raise KeyError(f'{self.owner}: no transform of the pipeline produced "points"')
        for hook in self.on_load:
            results = hook(results)
        if self.add_point_index:
            results['point_index'] = np.arange(len(results['points']), dtype=np.int64)
        views = []
        for view in range(self.num_views):
            data = copy.deepcopy(results) if view < self.num_views - 1 else results
            for transform in self.transforms[step:]:
                data = transform(data)
                if data is None:
                    return None
            if not isinstance(data, dict) or 'inputs' not in data or \
                    'data_samples' not in data:
                raise TypeError(f'{self.owner}: the pipeline must end with PackPointInputs '
                                '(a dict with "inputs" and "data_samples")')
            self._finish(data['data_samples'])
            views.append(data)
        if self.num_views == 1:
            return views[0]
        samples = [v['data_samples'] for v in views]
        first = dict(samples[0])
        first['views'] = samples
        return {'inputs': [v['inputs'] for v in views], 'data_samples': first}

    def _finish(self, sample: dict) -> None:
        if self.add_point_index and sample.get('point_index') is None:
            raise KeyError(f'{self.owner}: PackPointInputs dropped "point_index"; keep it in '
                           'target_keys (it is there by default)')
        if self.hide_labels:
            # with per-point labels, ``label`` is the shape category (part
            # segmentation), metadata rather than a target: keep it
            keys = LABEL_KEYS if sample.get('labels') is None else ('labels', 'origin_labels')
            for key in keys:
                value = sample.get(key)
                if isinstance(value, torch.Tensor):
                    sample[key] = torch.full_like(value, IGNORE_INDEX)
                elif value is not None:
                    sample[key] = IGNORE_INDEX
            sample.pop('soft_labels', None)
        if self.stream is not None:
            sample.setdefault('metainfo', {})['stream'] = self.stream

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_views={self.num_views}, stream={self.stream!r}, '
                f'transforms={self.transforms})')


def configure_views(dataset, **settings) -> None:
    """Give every leaf dataset below ``dataset`` (through ``datasets`` /
    ``dataset`` of wrappers) a :class:`ViewPipeline` and update it with
    ``settings``; ``on_load`` hooks are appended, ``stream`` is set only
    where none is set yet."""
    pipeline = getattr(dataset, 'pipeline', None)
    if pipeline is not None:
        if not isinstance(pipeline, ViewPipeline):
            pipeline = ViewPipeline(pipeline, owner=type(dataset).__name__)
            dataset.pipeline = pipeline
        for key, value in settings.items():
            if key == 'on_load':
                pipeline.on_load.extend(value)
            elif key == 'stream':
                pipeline.stream = pipeline.stream or value
            else:
                setattr(pipeline, key, value)
        return
    children = getattr(dataset, 'datasets', None)
    if children is None and getattr(dataset, 'dataset', None) is not None:
        children = [dataset.dataset]
    if not children:
        raise TypeError(f'{type(dataset).__name__} has no pipeline (nor wrapped datasets) for '
                        'SemiDataset to drive')
    for child in children:
        configure_views(child, **settings)


def listed_key(dataset, index: int) -> Optional[str]:
    """The pseudo-label key (:func:`d3l.semi.sample_key`) of a sample from the
    dataset's list, without loading the sample; None when the dataset is not
    an MMEngine ``BaseDataset`` or its list holds no id."""
    if not isinstance(dataset, BaseDataset):
        return None
    try:
        return sample_key(BaseDataset.get_data_info(dataset, index))
    except KeyError:
        return None


def _build(cfg):
    if not isinstance(cfg, dict):
        return cfg
    if DefaultScope.get_current_instance() is None:
        # built in plain Python (no runner, no default_scope): the datasets'
        # pipelines must still find d3l's transforms
        with DefaultScope.overwrite_default_scope('d3l'):
            return DATASETS.build(cfg)
    return DATASETS.build(cfg)


@DATASETS.register_module()
class PseudoLabelDataset(Dataset):
    """A dataset whose per-point ``labels`` come from pseudo-label files.

    ``{label_root}/{key}/{label_name}`` (``key`` = scene id, see
    :func:`d3l.semi.sample_key`) is read right after the scene is loaded and
    replaces its labels (-1 in the file = ignore); the pipeline then runs as
    usual. Samples are marked ``stream='pseudo'``.

    Args:
        dataset: config of the scenes (e.g. the LR unlabelled scenes with the
            training pipeline).
        label_root: output folder of ``tools/make_confident_pseudo_labels.py``.
        label_name: file name in each scene folder.
    """

    def __init__(self, dataset: Union[dict, Dataset], label_root: str,
                 label_name: str = 'segment20.npy'):
        self.dataset = _build(dataset)
        self.label_root = label_root
        self.label_name = label_name
        self.num_classes = len((getattr(self.dataset, 'metainfo', None) or {}).get(
            'classes', ())) or None
        self._check_files()
        configure_views(self.dataset, on_load=[self.load_labels], stream='pseudo')

    def _check_files(self) -> None:
        if not osp.isdir(self.label_root):
            raise FileNotFoundError(
                f'PseudoLabelDataset: {self.label_root} does not exist; make it with '
                'tools/make_confident_pseudo_labels.py CONFIG CHECKPOINT')
        keys = [listed_key(self.dataset, i) for i in range(len(self.dataset))]
        if None in keys:
            return  # ids appear only after loading; checked per sample then
        missing = [k for k in keys if not osp.isfile(
            pseudo_label_path(self.label_root, k, self.label_name))]
        if missing:
            raise FileNotFoundError(
                f'PseudoLabelDataset: {len(missing)} of {len(keys)} scenes have no '
                f'{self.label_name} in {self.label_root} (e.g. {", ".join(missing[:3])}); '
                'run (or resume) tools/make_confident_pseudo_labels.py')

    def load_labels(self, results: dict) -> dict:
        path = pseudo_label_path(self.label_root, sample_key(results), self.label_name)
        results['labels'] = load_pseudo_labels(path, len(results['points']), self.num_classes)
        results.pop('soft_labels', None)
        return results

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


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
        self.labeled = [_build(cfg) for cfg in labeled_cfgs]
        self.unlabeled = _build(unlabeled) if unlabeled is not None else None
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
