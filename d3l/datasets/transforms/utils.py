"""Helpers for transforms that select a subset of a sample's points."""
from typing import Iterable

import numpy as np

#: sample keys holding one row per point; subsampling transforms index them all
POINT_KEYS = ('points', 'colors', 'normals', 'labels', 'soft_labels', 'pixel_index',
              'instance', 'pseudo_labels', 'confidence', 'point_index')


def select_points(results: dict, index: np.ndarray, keys: Iterable[str] = POINT_KEYS) -> dict:
    """Index every per-point array of ``results`` in place.

    ``soft_labels`` may also be an encoded dict of per-point arrays (see
    ``d3l.pseudo_labels``); each of its arrays is indexed.
    """
    num_points = len(results['points'])
    for key in keys:
        value = results.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            results[key] = {k: _take_rows(v, index) for k, v in value.items()}
            continue
        if len(value) != num_points:
            raise ValueError(f'sample key {key!r} has {len(value)} rows for {num_points} points')
        results[key] = _take_rows(value, index)
    return results


def _take_rows(value, index):
    # np.take gathers rows of 2D arrays ~10x faster than fancy indexing
    index = np.asarray(index)
    if isinstance(value, np.ndarray) and index.dtype.kind in 'iu':
        return np.take(value, index, axis=0)
    return value[index]
