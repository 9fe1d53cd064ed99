"""Views of a sample: the loading transforms run once, the rest of the
pipeline (augmentation, sampling, packing) once per view, each point
carrying ``point_index`` (its row in the loaded cloud), so that the mean
teacher can match the student's view to the teacher's point to point."""
from __future__ import annotations

import copy
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .confident import IGNORE_INDEX

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
