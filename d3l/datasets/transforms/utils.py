"""Helpers for transforms that select a subset of a sample's points."""
import ctypes
import os
import sys
from typing import Iterable

import numpy as np

#: sample keys holding one row per point; subsampling transforms index them all
POINT_KEYS = ('points', 'colors', 'normals', 'labels', 'soft_labels', 'pixel_index',
              'instance', 'pseudo_labels', 'confidence', 'point_index')


def select_points(results: dict, index: np.ndarray, keys: Iterable[str] = POINT_KEYS) -> dict:
    """Index every per-point array of ``results`` in place.

    ``soft_labels`` may also be an encoded dict of per-point arrays (see
    ``d3l.soft_labels``); each of its arrays is indexed.
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


_MALLOC_TUNED_PID = None


def retain_freed_memory() -> None:
    """Keep the memory a sample frees for the next one (glibc only; once per
    process; ``D3L_KEEP_MALLOC=1`` leaves the allocator alone).

    A sample allocates and frees ~30-400 MB of temporaries (image planes,
    (N, 3) float arrays). glibc's defaults hand large freed blocks back to the
    kernel, so every sample page-faults them in again, 4 kB at a time: half of
    the CPU time of normal estimation (docs/data_path_speed.md). A fixed mmap
    threshold (32 MB, glibc's maximum) and a trim threshold of 1 GB keep them
    in the heap; the worker's resident memory then stays at its peak of one
    sample instead of dropping between samples."""
    global _MALLOC_TUNED_PID
    pid = os.getpid()
    if _MALLOC_TUNED_PID == pid:
        return
    _MALLOC_TUNED_PID = pid  # also after a failure: try once per process
    if os.environ.get('D3L_KEEP_MALLOC') == '1' or not sys.platform.startswith('linux'):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 1 << 30)
