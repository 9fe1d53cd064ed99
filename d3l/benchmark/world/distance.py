"""Exact signed distances to the primitives of a
:class:`~.primitives.PrimitiveSet` (negative inside), used to drop hidden
surface samples (:func:`near_any`), to place cameras in free space and by
the tests as an independent check of the ray caster (:mod:`.raycast`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from .primitives import PrimitiveSet


def sdf(prims: PrimitiveSet, points: np.ndarray, ids: Optional[np.ndarray] = None) -> np.ndarray:
    """Exact signed distance (M, P) of each point to each primitive
    (negative inside); ``ids`` restricts the columns to those primitives."""
    prims.freeze()
    points = np.asarray(points, np.float64)
    ids = np.arange(len(prims.kind)) if ids is None else np.asarray(ids, np.int64)
    out = np.empty((len(points), len(ids)))
    kinds = prims.kind[ids]
    for k in range(3):
        cols = np.flatnonzero(kinds == k)
        if len(cols) == 0:
            continue
        loc = prims.local[ids[cols]]
        out[:, cols] = (_sdf_boxes, _sdf_cylinders, _sdf_spheres)[k](
            prims, points, loc)
    return out


def _sdf_boxes(prims: PrimitiveSet, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
    yaw = prims.box_yaw[loc]
    cos, sin = np.cos(yaw), np.sin(yaw)
    rel = p[:, None, :] - prims.box_center[loc][None]
    local = np.stack([cos * rel[..., 0] + sin * rel[..., 1],
                      -sin * rel[..., 0] + cos * rel[..., 1], rel[..., 2]], -1)
    q = np.abs(local) - prims.box_half[loc][None]
    outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
    return outside + np.minimum(q.max(-1), 0)


def _sdf_cylinders(prims: PrimitiveSet, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
    rel = p[:, None, :] - prims.cyl_center[loc][None]
    q = np.stack([np.hypot(rel[..., 0], rel[..., 1]) - prims.cyl_radius[loc][None],
                  np.abs(rel[..., 2]) - prims.cyl_half[loc][None]], -1)
    outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
    return outside + np.minimum(q.max(-1), 0)


def _sdf_spheres(prims: PrimitiveSet, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
    return np.linalg.norm(p[:, None, :] - prims.sph_center[loc][None], axis=-1) - \
        prims.sph_radius[loc][None]


def min_sdf(prims: PrimitiveSet, points: np.ndarray,
            exclude: Optional[np.ndarray] = None, chunk: int = 4096) -> np.ndarray:
    """Signed distance of each point to the union of the primitives;
    ``exclude`` (M,) names one primitive per point to leave out (-1: none)."""
    points = np.asarray(points, np.float64)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        sl = slice(start, start + chunk)
        dist = sdf(prims, points[sl])
        if exclude is not None:
            ex = np.asarray(exclude)[sl]
            rows = np.flatnonzero(ex >= 0)
            dist[rows, ex[rows]] = np.inf
        out[sl] = dist.min(1) if dist.shape[1] else np.inf
    return out


# added to the tolerance of :func:`near_any`'s box prefilter: far above the
# rounding of the boxes' corners (~1e-15 m), so it never drops a true pair
_BOX_PAD = 1e-6


def near_any(prims: PrimitiveSet, points: np.ndarray, eps: float,
             exclude: Optional[np.ndarray] = None, kernel: bool = True) -> np.ndarray:
    """(M,) bool: whether some primitive (other than ``exclude[i]``) lies within
    ``eps`` of point ``i``, i.e. exactly ``min_sdf(points, exclude) <= eps``.

    Only the pairs whose point lies in the primitive's bounding box widened
    by ``eps`` can be that close, so the exact distance is computed for them
    alone, with the same arithmetic as :func:`sdf` (~20x faster than
    :func:`min_sdf` on a room's surface samples, the same answers bit for
    bit), by the numba kernel of :mod:`.distance_kernel` unless ``kernel`` is
    False or numba is missing.
    """
    points = np.asarray(points, np.float64)
    lo, hi = prims.bounding_boxes()
    lo, hi = lo - (eps + _BOX_PAD), hi + (eps + _BOX_PAD)
    order = np.argsort(points[:, 0], kind='stable')
    xs, ys, zs = (points[order, k] for k in range(3))
    starts = np.searchsorted(xs, lo[:, 0], side='left')
    stops = np.searchsorted(xs, hi[:, 0], side='right')
    out = np.zeros(len(points), bool)
    if kernel:
        from .distance_kernel import near_any_pairs
        ex = np.full(len(points), -1, np.int64) if exclude is None else \
            np.asarray(exclude, np.int64)
        if near_any_pairs(prims, points, order, starts, stops, lo, hi, ex, eps, out):
            return out
    for j in range(len(prims.kind)):
        a, b = starts[j], stops[j]
        inside = (ys[a:b] >= lo[j, 1]) & (ys[a:b] <= hi[j, 1]) & \
            (zs[a:b] >= lo[j, 2]) & (zs[a:b] <= hi[j, 2])
        cand = order[a:b][inside]
        if exclude is not None:
            cand = cand[exclude[cand] != j]
        cand = cand[~out[cand]]  # already known to be near one
        if len(cand):
            out[cand] = sdf(prims, points[cand], np.array([j]))[:, 0] <= eps
    return out
