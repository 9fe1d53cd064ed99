"""Per-pixel geometry of depth images: the organised point grid and depth
discontinuities (surface normals: :mod:`d3l.geometry.normals`)."""
from typing import Optional

import numpy as np

from d3l.utils.jit import lazy_njit

from .lifting import equirect_rays, perspective_rays

PROJECTIONS = ('perspective', 'equirect')


def check_projection(projection: str, K) -> None:
    """Raise unless ``projection`` is known and a perspective one has ``K``."""
    if projection not in PROJECTIONS:
        raise ValueError(f'projection must be one of {PROJECTIONS}, got {projection!r}')
    if projection == 'perspective' and K is None:
        raise ValueError('perspective depth images need intrinsics K')


def valid_depth(depth: np.ndarray, max_depth: Optional[float] = None) -> np.ndarray:
    """Boolean (H, W): finite, positive and (optionally) within ``max_depth``."""
    depth = np.asarray(depth)
    with np.errstate(invalid='ignore'):
        valid = (depth > 0) & (depth < np.inf)
        if max_depth is not None:
            valid &= depth <= max_depth
    return valid


def point_grid(depth: np.ndarray, K: Optional[np.ndarray] = None,
               projection: str = 'perspective', dtype=np.float64) -> np.ndarray:
    """(H, W, 3) camera-frame point of every pixel (the origin where the
    depth is invalid; combine with :func:`valid_depth`)."""
    check_projection(projection, K)
    depth = np.asarray(depth)
    height, width = depth.shape
    rays = (perspective_rays(height, width, K) if projection == 'perspective'
            else equirect_rays(height, width))
    clean = np.where(valid_depth(depth), depth, 0).astype(dtype)
    return clean[..., None] * rays.astype(dtype, copy=False)


def depth_edge_mask(depth: np.ndarray, rel_threshold: float = 0.05,
                    abs_threshold: float = 0.0, wrap: bool = False,
                    invalid_is_edge: bool = False) -> np.ndarray:
    """Boolean (H, W), True on depth discontinuities.

    A valid pixel is an edge when one of its 8 neighbours is valid and differs
    in depth by more than ``max(rel_threshold * depth, abs_threshold)``: such
    pixels are the "flying pixels" that depth sensors and depth predictors
    smear between a foreground object and the background. With
    ``invalid_is_edge`` a pixel next to an invalid one (or outside the image)
    is an edge too. ``wrap`` treats the left and right borders as neighbours
    (panoramas).

    Each of the 4 neighbour directions is visited once and decides both
    pixels of a pair (float64, as the threshold comparison always was). With
    numba and float depth one compiled loop over the pixels does it (~10x
    faster, the same mask); otherwise NumPy slices.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f'depth_edge_mask: depth must be (H, W), got shape {depth.shape}')
    kernel = _compiled_kernel() if USE_NUMBA and depth.dtype in (np.float32, np.float64) else None
    if kernel is not None and depth.size:
        edge = np.empty(depth.shape, bool)
        kernel(np.ascontiguousarray(depth), float(rel_threshold), float(abs_threshold),
               bool(wrap), bool(invalid_is_edge), edge)
        return edge
    return _depth_edge_mask_numpy(depth, rel_threshold, abs_threshold, wrap, invalid_is_edge)


def _depth_edge_mask_numpy(depth, rel_threshold, abs_threshold, wrap, invalid_is_edge):
    valid = valid_depth(depth)
    clean = np.where(valid, depth, 0).astype(np.float64, copy=False)
    if wrap:  # one wrapped column on each side makes the seam pairs ordinary pairs
        clean = np.concatenate([clean[:, -1:], clean, clean[:, :1]], axis=1)
        valid = np.concatenate([valid[:, -1:], valid, valid[:, :1]], axis=1)
    threshold = np.maximum(rel_threshold * clean, abs_threshold)
    edge = np.zeros(valid.shape, bool)
    height, width = valid.shape
    for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):
        first = (slice(0, height - d_row), slice(max(-d_col, 0), width - max(d_col, 0)))
        second = (slice(d_row, height), slice(max(d_col, 0), width - max(-d_col, 0)))
        jump = np.abs(clean[first] - clean[second])
        both = valid[first] & valid[second]
        edge[first] |= both & (jump > threshold[first])
        edge[second] |= both & (jump > threshold[second])
        if invalid_is_edge:
            edge[first] |= ~valid[second]
            edge[second] |= ~valid[first]
    if wrap:  # fold the wrapped columns back
        edge[:, -2] |= edge[:, 0]
        edge[:, 1] |= edge[:, -1]
        edge, valid = edge[:, 1:-1], valid[:, 1:-1]
    if invalid_is_edge:  # neighbours outside the image count as invalid
        edge[[0, -1]] = True
        if not wrap:
            edge[:, [0, -1]] = True
    return edge & valid


# ------------------------------------------------------- the numba path
#: set to False to force the NumPy path (tests compare the two)
USE_NUMBA = True
# the 4 directions of the NumPy path: each pair of 8-neighbours once
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _edge_kernel(depth, rel, absolute, wrap, invalid_is_edge, edge):  # pragma: no cover
    """``edge`` (H, W) of the NumPy path: the same pairs (with ``wrap`` the
    columns are a cylinder, as the padded columns of the NumPy path make
    them), the same float64 jumps and thresholds, in one pass."""
    height, width = depth.shape
    edge[:] = False
    for row in range(height):
        for col in range(width):
            d = depth[row, col]
            valid = d > 0 and d < np.inf
            clean = np.float64(d) if valid else 0.0
            threshold = max(rel * clean, absolute)
            for d_row, d_col in _DIRECTIONS:
                r, c = row + d_row, col + d_col
                if r >= height:
                    continue
                if c < 0 or c >= width:
                    if not wrap:
                        continue
                    c = c % width
                e = depth[r, c]
                other_valid = e > 0 and e < np.inf
                if valid and other_valid:
                    other = np.float64(e)
                    jump = abs(clean - other)
                    if jump > threshold:
                        edge[row, col] = True
                    if jump > max(rel * other, absolute):
                        edge[r, c] = True
                elif invalid_is_edge:
                    if not other_valid:
                        edge[row, col] = True
                    if not valid:
                        edge[r, c] = True
    for row in range(height):
        for col in range(width):
            if invalid_is_edge and (row == 0 or row == height - 1 or (
                    not wrap and (col == 0 or col == width - 1))):
                edge[row, col] = True
            d = depth[row, col]
            if not (d > 0 and d < np.inf):
                edge[row, col] = False


def _compiled_kernel():
    """The numba build of ``_edge_kernel``, or None without numba (the NumPy
    path gives the same mask)."""
    return lazy_njit(_edge_kernel)
