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
    ``invalid_is_edge`` a pixel next to an invalid one is an edge too.
    ``wrap`` treats the left and right borders as neighbours (panoramas).
    """
    depth = np.asarray(depth, np.float64)
    if depth.ndim != 2:
        raise ValueError(f'depth_edge_mask: depth must be (H, W), got shape {depth.shape}')
    valid = valid_depth(depth)
    clean = np.where(valid, depth, 0.0)
    pad_mode = ((1, 1), (1, 1))
    padded = np.pad(clean, pad_mode, mode='constant')
    padded_valid = np.pad(valid, pad_mode, mode='constant')
    if wrap:
        padded[1:-1, 0], padded[1:-1, -1] = clean[:, -1], clean[:, 0]
        padded_valid[1:-1, 0], padded_valid[1:-1, -1] = valid[:, -1], valid[:, 0]
    height, width = depth.shape
    threshold = np.maximum(rel_threshold * clean, abs_threshold)
    edge = np.zeros_like(valid)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            if d_row == 0 and d_col == 0:
                continue
            neighbour = padded[1 + d_row:1 + d_row + height, 1 + d_col:1 + d_col + width]
            neighbour_valid = padded_valid[1 + d_row:1 + d_row + height,
                                           1 + d_col:1 + d_col + width]
            jump = neighbour_valid & (np.abs(neighbour - clean) > threshold)
            if invalid_is_edge:
                jump |= ~neighbour_valid
            edge |= jump
    return edge & valid
