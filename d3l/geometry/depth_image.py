"""Per-pixel geometry of depth images: the organised point grid and depth
discontinuities (surface normals: :mod:`d3l.geometry.normals`)."""
from typing import Optional

import numpy as np

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
    pixels of a pair (float64, as the threshold comparison always was).
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f'depth_edge_mask: depth must be (H, W), got shape {depth.shape}')
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
