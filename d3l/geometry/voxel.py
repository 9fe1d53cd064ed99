"""Voxel-grid helpers shared by transforms and backbones."""
from typing import Optional, Tuple

import numpy as np

from d3l.utils.jit import lazy_njit

from .transforms import bounding_box


def voxel_keys(points: np.ndarray, grid_size: float) -> np.ndarray:
    """Integer voxel coordinates (N, 3) int64 of points for a cubic grid."""
    if grid_size <= 0:
        raise ValueError(f'grid_size must be > 0, got {grid_size}')
    return np.floor(np.asarray(points, dtype=np.float64) / grid_size).astype(np.int64)


def _linear_keys(keys: np.ndarray) -> np.ndarray:
    """One int64 >= 0 per voxel, ordered as the (x, y, z) keys
    lexicographically; sorting 1D integers is ~10x faster than
    ``np.unique(axis=0)``, which remains the fallback when the grid is too
    large for 63 bits."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    lo, hi = bounding_box(keys)
    dims = [int(h) - int(low) + 1 for low, h in zip(lo, hi)]  # Python ints: no overflow
    if dims[0] * dims[1] * dims[2] < 2 ** 62:
        return (((keys[:, 0] - lo[0]) * dims[1] + (keys[:, 1] - lo[1])) * dims[2]
                + (keys[:, 2] - lo[2]))
    _, linear = np.unique(keys, axis=0, return_inverse=True)  # the rank of each row
    return linear.reshape(-1).astype(np.int64)


def _point_linear_keys(points: np.ndarray, grid_size: float) -> np.ndarray:
    """``_linear_keys(voxel_keys(points, grid_size))``, column by column:
    the same keys without the (N, 3) float64 and int64 temporaries (2x
    faster)."""
    if grid_size <= 0:
        raise ValueError(f'grid_size must be > 0, got {grid_size}')
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        return _linear_keys(voxel_keys(points, grid_size))
    columns = [np.floor(points[:, axis].astype(np.float64) / grid_size).astype(np.int64)
               for axis in range(3)]
    lo = [int(c.min()) for c in columns]
    dims = [int(c.max()) - low + 1 for c, low in zip(columns, lo)]
    if dims[0] * dims[1] * dims[2] >= 2 ** 62:
        return _linear_keys(np.stack(columns, 1))
    linear = columns[0] - lo[0]
    linear *= dims[1]
    linear += columns[1]
    linear -= lo[1]
    linear *= dims[2]
    linear += columns[2]
    linear -= lo[2]
    return linear


def _stable_order(linear: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``order = argsort(linear, stable)`` and ``linear[order]``. Packing the
    position into the low bits makes every key distinct, so NumPy's SIMD sort
    (not stable, ~7x faster than the stable argsort) gives the stable order."""
    count = len(linear)
    bits = max(int(count - 1).bit_length(), 1)
    if count and int(linear.max()) < 2 ** (62 - bits):
        packed = np.sort((linear << bits) | np.arange(count, dtype=np.int64))
        return packed & ((1 << bits) - 1), packed >> bits
    order = np.argsort(linear, kind='stable')
    return order, linear[order]


# ------------------------------------------------ the numba path (O(N) passes)
#: set to False to force the NumPy path (tests compare the two)
USE_NUMBA = True
_KEY_LIMIT = 2.0 ** 62  # floor keys beyond this (and NaN) take the NumPy path
_DIGIT_BITS = 13  # radix digit: 8192 buckets (64 kB of counts) stay in the L2 cache


def _key_bounds_kernel(points, grid_size, keys, lo, hi):  # pragma: no cover - numba
    """Floor keys of every point into ``keys`` (3, N) and their per-axis
    bounds; False when one is non-finite or too large (NumPy path)."""
    for axis in range(3):
        lo[axis] = 0
        hi[axis] = 0
    for i in range(points.shape[0]):
        for axis in range(3):
            # float64 division, as voxel_keys: bit-identical floors
            f = np.floor(np.float64(points[i, axis]) / grid_size)
            if not (f > -_KEY_LIMIT and f < _KEY_LIMIT):
                return False
            k = np.int64(f)
            keys[axis, i] = k
            if i == 0 or k < lo[axis]:
                lo[axis] = k
            if i == 0 or k > hi[axis]:
                hi[axis] = k
    return True


def _pack_kernel(keys, lo, dim1, dim2, bits, passes, packed, hist):  # pragma: no cover
    """``linear << bits | position`` (``_stable_order``'s packing) and the
    radix histograms of every digit of ``linear``."""
    mask = (1 << _DIGIT_BITS) - 1
    for i in range(keys.shape[1]):
        linear = ((keys[0, i] - lo[0]) * dim1 + (keys[1, i] - lo[1])) * dim2 + keys[2, i] - lo[2]
        packed[i] = (linear << bits) | i
        for p in range(passes):
            hist[p, (linear >> (p * _DIGIT_BITS)) & mask] += 1


def _radix_kernel(values, buffer, hist, bits, passes):  # pragma: no cover - numba
    """LSD radix sort of ``values`` by their bits above ``bits`` (stable, so
    equal keys keep the position order); returns the array holding it."""
    mask = (1 << _DIGIT_BITS) - 1
    src, dst = values, buffer
    for p in range(passes):
        counts = hist[p]
        total = 0
        for b in range(counts.shape[0]):
            c = counts[b]
            counts[b] = total
            total += c
        shift = bits + p * _DIGIT_BITS
        for i in range(src.shape[0]):
            v = src[i]
            b = (v >> shift) & mask
            dst[counts[b]] = v
            counts[b] += 1
        src, dst = dst, src
    return src


def _runs_kernel(packed, bits, order, starts, inverse):  # pragma: no cover - numba
    """Unpack the sorted values: ``order``, the voxel ``starts`` and (when
    ``inverse`` has N entries) each point's voxel; returns the voxel count."""
    low = (np.int64(1) << bits) - 1
    voxel, previous = -1, np.int64(-1)
    with_inverse = inverse.shape[0] > 0
    for j in range(packed.shape[0]):
        key, index = packed[j] >> bits, packed[j] & low
        if key != previous:
            voxel += 1
            starts[voxel] = j
            previous = key
        order[j] = index
        if with_inverse:
            inverse[index] = voxel
    return voxel + 1


def _compiled_kernels():
    """The numba builds of the four kernels, or None without numba (the NumPy
    path gives the same indices)."""
    kernels = tuple(lazy_njit(k) for k in (_key_bounds_kernel, _pack_kernel, _radix_kernel,
                                           _runs_kernel))
    return None if any(k is None for k in kernels) else kernels


def _sorted_voxels_numba(points: np.ndarray, grid_size: float, return_inverse: bool):
    """``(order, starts, inverse)`` of the voxel sort in O(N) passes, the
    same arrays as the NumPy path's (keys, one packed sort, runs); None when
    numba is missing or the keys do not fit (the NumPy path handles those)."""
    kernels = _compiled_kernels() if USE_NUMBA else None
    points = np.asarray(points)
    if (kernels is None or points.ndim != 2 or points.shape[1] != 3 or len(points) == 0
            or points.dtype not in (np.float32, np.float64)):
        return None
    bounds, pack, radix, runs = kernels
    points = np.ascontiguousarray(points)
    count = len(points)
    keys, lo, hi = np.empty((3, count), np.int64), np.empty(3, np.int64), np.empty(3, np.int64)
    if not bounds(points, float(grid_size), keys, lo, hi):
        return None
    dims = [int(h) - int(low) + 1 for low, h in zip(lo, hi)]  # Python ints: no overflow
    bits = max(int(count - 1).bit_length(), 1)
    key_bits = max(int(dims[0] * dims[1] * dims[2] - 1).bit_length(), 1)
    if key_bits + bits > 62:
        return None
    passes = -(-key_bits // _DIGIT_BITS)
    hist = np.zeros((passes, 1 << _DIGIT_BITS), np.int64)
    packed = np.empty(count, np.int64)
    pack(keys, lo, dims[1], dims[2], bits, passes, packed, hist)
    del keys
    packed = radix(packed, np.empty(count, np.int64), hist, bits, passes)
    order, starts = np.empty(count, np.int64), np.empty(count, np.int64)
    inverse = np.empty(count if return_inverse else 0, np.int64)
    num_voxels = runs(packed, bits, order, starts, inverse)
    return order, starts[:num_voxels], inverse if return_inverse else None


def _sorted_voxels_numpy(points: np.ndarray, grid_size: float, return_inverse: bool):
    """``(order, starts, inverse)``: the stable order of the points by voxel
    key, the start of each voxel in it and (optionally) each point's voxel."""
    linear = _point_linear_keys(points, grid_size)
    count = len(linear)
    order, sorted_keys = _stable_order(linear)
    first = np.empty(count, bool)  # first point of its voxel, in sorted order
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    inverse = None
    if return_inverse:
        inverse = np.empty(count, np.int64)
        inverse[order] = np.cumsum(first) - 1
    return order, starts, inverse


def grid_sample_indices(points: np.ndarray, grid_size: float, mode: str = 'test',
                        rng: Optional[np.random.Generator] = None,
                        return_inverse: bool = True
                        ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Keep one point per occupied voxel.

    Returns ``(keep, inverse)``: ``keep`` (K,) indices of the kept points
    (in voxel order) and ``inverse`` (N,) the position in ``keep`` of the
    point that represents each input point's voxel, so that
    ``values[keep][inverse]`` spreads per-voxel values back to every point.
    ``mode='train'`` keeps a random point of each voxel, drawn from ``rng``
    or, when None, numpy's global generator (which MMEngine seeds per
    dataloader worker); ``'test'`` keeps the first one, deterministically.
    One stable sort of the points' voxel keys does it all: with numba an LSD
    radix sort in O(N) passes (2x faster), otherwise NumPy's sort; both give
    the same indices and draw the same random numbers. ``return_inverse=False``
    skips ``inverse`` (None; a scatter of N integers, 10-15 % of the time).
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"grid_sample_indices: mode must be 'train' or 'test', got {mode!r}")
    if grid_size <= 0:
        raise ValueError(f'grid_size must be > 0, got {grid_size}')
    sorted_voxels = _sorted_voxels_numba(points, grid_size, return_inverse)
    if sorted_voxels is None:
        sorted_voxels = _sorted_voxels_numpy(points, grid_size, return_inverse)
    order, starts, inverse = sorted_voxels
    if mode == 'train':
        counts = np.diff(np.append(starts, len(order)))
        draws = rng.random(len(counts)) if rng is not None else np.random.random(len(counts))
        starts = starts + (draws * counts).astype(np.int64)
    return order[starts].astype(np.int64, copy=False), inverse
