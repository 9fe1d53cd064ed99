"""Helpers for transforms that select a subset of a sample's points."""
import ctypes
import os
import sys
from typing import Iterable

import numpy as np

from d3l.utils.jit import lazy_njit

#: set to False to gather a lifted sample's arrays with np.take only (tests compare)
USE_NUMBA = True

#: sample keys holding one row per point; subsampling transforms index them all
POINT_KEYS = ('points', 'colors', 'normals', 'labels', 'soft_labels', 'pixel_index',
              'instance', 'pseudo_labels', 'confidence', 'point_index')


def select_points(results: dict, index: np.ndarray, keys: Iterable[str] = POINT_KEYS) -> dict:
    """Index every per-point array of ``results`` in place.

    ``soft_labels`` may also be an encoded dict of per-point arrays (see
    ``d3l.soft_labels``); each of its arrays is indexed. A lifted sample's
    ``points``, ``colors`` and ``pixel_index`` are gathered together in one
    pass (:func:`_gather_lifted`: the rows np.take gives, 1.4x faster).
    """
    num_points = len(results['points'])
    done = _gather_lifted(results, index, keys)
    for key in keys:
        value = results.get(key)
        if value is None or key in done:
            continue
        if isinstance(value, dict):
            results[key] = {k: _take_rows(v, index) for k, v in value.items()}
            continue
        if len(value) != num_points:
            raise ValueError(f'sample key {key!r} has {len(value)} rows for {num_points} points')
        results[key] = _take_rows(value, index)
    return results


_LIFTED = (('points', np.float32, 2), ('colors', np.float32, 2), ('pixel_index', np.int64, 1))


def _gather_lifted_kernel(points, colors, pixel_index, index, out_points, out_colors,
                          out_pixels):  # pragma: no cover - numba
    """The three arrays' rows of ``index`` (in range) in one loop: the
    scattered reads of a grid sample overlap instead of three passes."""
    for j in range(index.shape[0]):
        row = index[j]
        for k in range(3):
            out_points[j, k] = points[row, k]
            out_colors[j, k] = colors[row, k]
        out_pixels[j] = pixel_index[row]


def _gather_lifted(results: dict, index, keys) -> tuple:
    """Gather ``points`` / ``colors`` / ``pixel_index`` (float32 (N, 3),
    float32 (N, 3), int64 (N,), contiguous) of ``results`` at ``index`` in
    one numba pass; returns the keys done (none when the sample is not of
    that form, the index is not integer or out of range: np.take then)."""
    kernel = lazy_njit(_gather_lifted_kernel) if USE_NUMBA else None
    index = np.asarray(index)
    if kernel is None or not all(key in keys for key, _, _ in _LIFTED) or index.ndim != 1 \
            or index.dtype.kind not in 'iu' or not len(index):
        return ()
    arrays = [results.get(key) for key, _, _ in _LIFTED]
    num_points = len(results['points'])
    for array, (_, dtype, ndim) in zip(arrays, _LIFTED):
        if (not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != ndim
                or len(array) != num_points or (ndim == 2 and array.shape[1] != 3)
                or not array.flags.c_contiguous):
            return ()
    if index.min() < 0 or index.max() >= num_points:  # np.take's wrapping or its error
        return ()
    outs = [np.empty((len(index),) + array.shape[1:], array.dtype) for array in arrays]
    kernel(*arrays, np.ascontiguousarray(index, np.int64), *outs)
    for (key, _, _), out in zip(_LIFTED, outs):
        results[key] = out
    return tuple(key for key, _, _ in _LIFTED)


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
