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


def _bounds_kernel(points, lo, hi):  # pragma: no cover - numba
    """Per-axis min / max of the coordinates (in locals: LLVM cannot keep
    array cells in registers); False on NaN."""
    lx, ly, lz = points[0, 0], points[0, 1], points[0, 2]
    hx, hy, hz = lx, ly, lz
    nan = False
    for i in range(points.shape[0]):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        nan |= (x != x) | (y != y) | (z != z)
        lx, ly, lz = min(lx, x), min(ly, y), min(lz, z)
        hx, hy, hz = max(hx, x), max(hy, y), max(hz, z)
    lo[0], lo[1], lo[2], hi[0], hi[1], hi[2] = lx, ly, lz, hx, hy, hz
    return not nan


def _linear_kernel(points, grid_size, lo, dim1, dim2, linear):  # pragma: no cover - numba
    """Each point's ``linear`` voxel index (``_point_linear_keys``' order)."""
    l0, l1, l2 = lo[0], lo[1], lo[2]
    for i in range(points.shape[0]):
        # float64 division, as voxel_keys: bit-identical floors
        kx = np.int64(np.floor(np.float64(points[i, 0]) / grid_size)) - l0
        ky = np.int64(np.floor(np.float64(points[i, 1]) / grid_size)) - l1
        kz = np.int64(np.floor(np.float64(points[i, 2]) / grid_size)) - l2
        linear[i] = (kx * dim1 + ky) * dim2 + kz


def _pack_runs_kernel(linear, low_bits, len_bits, packed):  # pragma: no cover - numba
    """Runs of consecutive points in one voxel (neighbouring pixels often
    share one: ~40 % fewer items to sort) of at most ``2 ** len_bits - 1``
    points, each packed as ``linear << low_bits | start << len_bits |
    length``: ``_stable_order``'s packing (starts are in point order) with the
    run length beside it, so the later passes read no other array; returns
    the run count. Branch-free (a new run adds 1): the run test is
    unpredictable."""
    max_length = (np.int64(1) << len_bits) - 1
    runs, previous, length, head = 0, np.int64(-1), max_length, np.int64(0)
    for i in range(linear.shape[0]):
        key = linear[i]
        new = np.int64((key != previous) | (length == max_length))
        previous = key
        runs += new  # a run's slot is rewritten with its growing length
        length = length * (1 - new) + 1
        head = (key << low_bits) | (np.int64(i) << len_bits) if new else head
        packed[runs - 1] = head | length
    return runs


def _histogram_kernel(packed, low_bits, passes, hist):  # pragma: no cover - numba
    """The radix histograms of every digit of the runs' ``linear`` keys."""
    mask = (1 << _DIGIT_BITS) - 1
    for i in range(packed.shape[0]):
        key = packed[i] >> low_bits
        for p in range(passes):
            hist[p, (key >> (p * _DIGIT_BITS)) & mask] += 1


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


def _voxels_kernel(packed, low_bits, len_bits, first_run, counts):  # pragma: no cover
    """Walk the sorted runs: each voxel's first run (in sorted order) and
    point count; returns the voxel count."""
    length_mask = (np.int64(1) << len_bits) - 1
    voxel, previous = -1, np.int64(-1)
    for r in range(packed.shape[0]):
        key = packed[r] >> low_bits
        if key != previous:
            voxel += 1
            first_run[voxel] = r
            counts[voxel] = 0
            previous = key
        counts[voxel] += packed[r] & length_mask
    return voxel + 1


def _pick_kernel(packed, low_bits, len_bits, first_run, offsets, keep):  # pragma: no cover
    """``keep[v]``: the ``offsets[v]``-th point (in point order) of voxel v,
    found along its runs, which hold its points in order."""
    length_mask = (np.int64(1) << len_bits) - 1
    start_mask = (np.int64(1) << (low_bits - len_bits)) - 1
    for v in range(keep.shape[0]):
        rest, r = offsets[v], first_run[v]
        while rest >= (packed[r] & length_mask):
            rest -= packed[r] & length_mask
            r += 1
        keep[v] = ((packed[r] >> len_bits) & start_mask) + rest


def _inverse_kernel(packed, low_bits, len_bits, first_run, inverse):  # pragma: no cover
    """Each point's voxel, run by run."""
    length_mask = (np.int64(1) << len_bits) - 1
    start_mask = (np.int64(1) << (low_bits - len_bits)) - 1
    voxel = -1
    for r in range(packed.shape[0]):
        voxel += np.int64(voxel + 1 < first_run.shape[0] and first_run[voxel + 1] == r)
        start = (packed[r] >> len_bits) & start_mask
        for i in range(start, start + (packed[r] & length_mask)):
            inverse[i] = voxel


def _compiled_kernels():
    """The numba builds of the kernels, or None without numba (the NumPy path
    gives the same indices)."""
    kernels = tuple(lazy_njit(k) for k in (_bounds_kernel, _linear_kernel, _pack_runs_kernel,
                                           _histogram_kernel, _radix_kernel, _voxels_kernel,
                                           _pick_kernel, _inverse_kernel))
    return None if any(k is None for k in kernels) else kernels


def _key_bounds(kernel, points: np.ndarray, grid_size: float):
    """Per-axis (lo, hi) floor keys of the points, from the box of the
    coordinates (floor and a division by a positive size are monotonic: the
    same bounds as the points' own keys), or None when a coordinate is
    non-finite or its key too large (the NumPy path handles those)."""
    lo, hi = np.empty(3, points.dtype), np.empty(3, points.dtype)
    if not kernel(points, lo, hi):  # NaN
        return None
    lo = np.floor(lo.astype(np.float64) / grid_size)
    hi = np.floor(hi.astype(np.float64) / grid_size)
    if not (np.all(lo > -_KEY_LIMIT) and np.all(hi < _KEY_LIMIT)):  # also infinities
        return None
    return lo.astype(np.int64), hi.astype(np.int64)


class _VoxelRuns:
    """The numba path's voxel sort: runs of consecutive points in one voxel,
    sorted by (voxel key, position) with an LSD radix sort in O(N) passes;
    the voxels, their counts and the points the NumPy path picks."""

    def __init__(self, kernels, points: np.ndarray, grid_size: float, lo, dims, key_bits,
                 return_inverse: bool):
        _, linear_of, pack, histogram, radix, voxels, self._pick, inverse_of = kernels
        count = len(points)
        start_bits = max(int(count - 1).bit_length(), 1)
        self.len_bits = min(62 - key_bits - start_bits, 16)
        self.low_bits = start_bits + self.len_bits
        linear, packed = np.empty(count, np.int64), np.empty(count, np.int64)
        linear_of(points, grid_size, lo, dims[1], dims[2], linear)
        num_runs = pack(linear, self.low_bits, self.len_bits, packed)
        del linear
        packed = packed[:num_runs]
        passes = -(-key_bits // _DIGIT_BITS)
        hist = np.zeros((passes, 1 << _DIGIT_BITS), np.int64)
        histogram(packed, self.low_bits, passes, hist)
        self.packed = radix(packed, np.empty(num_runs, np.int64), hist, self.low_bits, passes)
        first_run, counts = np.empty(num_runs, np.int64), np.empty(num_runs, np.int64)
        num_voxels = voxels(self.packed, self.low_bits, self.len_bits, first_run, counts)
        self.first_run, self.counts = first_run[:num_voxels], counts[:num_voxels]
        self.inverse = None
        if return_inverse:
            self.inverse = np.empty(count, np.int64)
            inverse_of(self.packed, self.low_bits, self.len_bits, self.first_run, self.inverse)

    def pick(self, offsets: np.ndarray) -> np.ndarray:
        """The ``offsets[v]``-th point of each voxel v (0: its first)."""
        keep = np.empty(len(self.counts), np.int64)
        self._pick(self.packed, self.low_bits, self.len_bits, self.first_run,
                   np.ascontiguousarray(offsets, np.int64), keep)
        return keep


def _sorted_voxels_numba(points: np.ndarray, grid_size: float, return_inverse: bool):
    """The voxel sort (:class:`_VoxelRuns`) in O(N) passes, giving the NumPy
    path's points and inverse; None when numba is missing or the keys do not
    fit (the NumPy path handles those)."""
    kernels = _compiled_kernels() if USE_NUMBA else None
    points = np.asarray(points)
    if (kernels is None or points.ndim != 2 or points.shape[1] != 3 or len(points) == 0
            or points.dtype not in (np.float32, np.float64)):
        return None
    points = np.ascontiguousarray(points)
    count = len(points)
    bounds = _key_bounds(kernels[0], points, float(grid_size))
    if bounds is None:
        return None
    lo, hi = bounds
    dims = [int(h) - int(low) + 1 for low, h in zip(lo, hi)]  # Python ints: no overflow
    bits = max(int(count - 1).bit_length(), 1)
    key_bits = max(int(dims[0] * dims[1] * dims[2] - 1).bit_length(), 1)
    if key_bits + bits > 61:  # and one bit at least for the run length
        return None
    return _VoxelRuns(kernels, points, float(grid_size), lo, dims, key_bits, return_inverse)


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
    radix sort of the runs of consecutive points in one voxel, in O(N)
    passes (~2x the NumPy path), otherwise NumPy's sort; both give the same
    indices and draw the same random numbers. ``return_inverse=False``
    skips ``inverse`` (None; a scatter of N integers, 10-15 % of the time).
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"grid_sample_indices: mode must be 'train' or 'test', got {mode!r}")
    if grid_size <= 0:
        raise ValueError(f'grid_size must be > 0, got {grid_size}')
    runs = _sorted_voxels_numba(points, grid_size, return_inverse)
    if runs is not None:
        offsets = np.zeros(len(runs.counts), np.int64)
        if mode == 'train':
            offsets = _draw_offsets(runs.counts, rng)
        return runs.pick(offsets), runs.inverse
    order, starts, inverse = _sorted_voxels_numpy(points, grid_size, return_inverse)
    if mode == 'train':
        starts = starts + _draw_offsets(np.diff(np.append(starts, len(order))), rng)
    return order[starts].astype(np.int64, copy=False), inverse


def _draw_offsets(counts: np.ndarray, rng: Optional[np.random.Generator]) -> np.ndarray:
    """A random position in each voxel of ``counts`` points: one draw per
    voxel from ``rng`` or numpy's global generator (both paths alike)."""
    draws = rng.random(len(counts)) if rng is not None else np.random.random(len(counts))
    return (draws * counts).astype(np.int64)
