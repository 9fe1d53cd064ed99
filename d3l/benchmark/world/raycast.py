"""Ray casting against a :class:`~.primitives.PrimitiveSet`: the first
intersection of many rays, without per-ray Python loops (exact slab test for
boxes, quadratic + cap discs for cylinders, quadratic for spheres), with the
hit primitive and the outward surface normal. :meth:`PrimitiveSet.cast`
calls :func:`cast`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:
    from .primitives import PrimitiveSet

# rays starting this close to a surface do not hit it again (self-intersection)
RAY_EPS = 1e-6
# max (rays x primitives) entries evaluated at once: bounds the temporaries
_CHUNK = 1 << 19


def cast(prims: PrimitiveSet, origins: np.ndarray, directions: np.ndarray,
         kernel: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First hit of each ray ``origin + t * direction`` (t > 0).

    Returns ``t`` (R,) float64 (``inf`` where nothing is hit; ``t`` is in
    units of ``|direction|``), the global primitive index (R,) int64
    (-1 on a miss) and the outward unit normal at the hit (R, 3).

    Rays are first tested against bounding spheres (two matrix products
    over all ray/primitive pairs); the exact intersection is computed
    only for the pairs that pass; both steps are one numba kernel
    (:mod:`.raycast_kernel`) unless ``kernel`` is False or numba is
    missing (both paths give the same bits).
    """
    prims.freeze()
    directions = np.asarray(directions, np.float64)
    origins = np.broadcast_to(np.asarray(origins, np.float64), directions.shape)
    num = len(directions)
    best_t = np.full(num, np.inf)
    best_id = np.full(num, -1, np.int64)
    normal = np.zeros((num, 3))
    count = len(prims.kind)
    if count == 0 or num == 0:
        return best_t, best_id, normal
    centre, radius = prims.bounding_spheres()
    columns = np.arange(count)
    if prims.enclosure is not None:
        lo, hi, face_ids = prims.enclosure
        if np.all((origins > lo) & (origins < hi)):
            _cast_enclosure(prims, origins, directions, best_t, best_id, normal)
            columns = np.setdiff1d(columns, face_ids)
            centre, radius = centre[columns], radius[columns]
            count = len(columns)
            if count == 0:
                return best_t, best_id, normal
    # the prefilter only has to be conservative: float32 with a margin
    spheres = (centre.astype(np.float32), ((radius + 1e-3) ** 2).astype(np.float32),
               np.sum(centre * centre, 1).astype(np.float32))
    step = max(1, _CHUNK // count)
    for start in range(0, num, step):
        o, d = origins[start:start + step], directions[start:start + step]
        if kernel:
            from .raycast_kernel import cast_chunk
            if cast_chunk(prims, o, d, spheres, columns, start, best_t, best_id, normal):
                continue
        ray, prim = _near_pairs(o, d, *spheres)
        if len(ray) == 0:
            continue
        prim = columns[prim]
        t_pair, n_pair = _exact_hits(prims, o, d, ray, prim)
        winner = _nearest_hit(ray, t_pair)
        idx = ray[winner] + start
        closer = t_pair[winner] < best_t[idx]  # than the enclosure
        winner, idx = winner[closer], idx[closer]
        best_t[idx] = t_pair[winner]
        best_id[idx] = prim[winner]
        normal[idx] = n_pair[winner]
    return best_t, best_id, normal


def _near_pairs(o, d, centre32, radius_sq, centre_sq):
    """(ray, sphere) index pairs, grouped by ray, whose ray passes within a
    bounding sphere ahead of its origin (float32, conservative)."""
    o32, d32 = o.astype(np.float32), d.astype(np.float32)
    d_sq = np.sum(d * d, 1).astype(np.float32)[:, None]
    # w = c - o: d.w and |w|^2 from matrix products
    dw = d32 @ centre32.T - np.sum(d * o, 1).astype(np.float32)[:, None]
    w_sq = centre_sq[None] - 2 * (o32 @ centre32.T) + np.sum(o * o, 1).astype(
        np.float32)[:, None]
    near = (w_sq * d_sq - dw * dw <= radius_sq[None] * d_sq) & \
        (dw > -np.sqrt(radius_sq * d_sq))
    return np.nonzero(near)  # row-major: grouped by ray


def _exact_hits(prims: PrimitiveSet, o, d, ray, prim):
    """Exact t (inf: none) and normal of each (ray, primitive) pair."""
    t_pair = np.full(len(ray), np.inf)
    n_pair = np.zeros((len(ray), 3))
    kind = prims.kind[prim]
    for k, fn in enumerate((_hit_boxes, _hit_cylinders, _hit_spheres)):
        sel = np.flatnonzero(kind == k)
        if len(sel):
            t_pair[sel], n_pair[sel] = fn(prims, o[ray[sel]], d[ray[sel]],
                                          prims.local[prim[sel]])
    return t_pair, n_pair


def _nearest_hit(ray, t_pair):
    """Index of each ray's nearest pair (the first of equals), rays that hit only."""
    # nearest pair of each ray: segment minimum, then its first pair
    starts = np.flatnonzero(np.r_[True, ray[1:] != ray[:-1]])
    t_min = np.minimum.reduceat(t_pair, starts)
    lengths = np.diff(np.r_[starts, len(ray)])
    candidates = np.flatnonzero(t_pair == np.repeat(t_min, lengths))
    segment = np.searchsorted(starts, candidates, side='right') - 1
    _, first = np.unique(segment, return_index=True)
    winner = candidates[first]
    hit = np.isfinite(t_pair[winner])
    return winner[hit]


def _cast_enclosure(prims: PrimitiveSet, o, d, best_t, best_id, normal):
    """Exit hits of rays starting inside the enclosure (see
    :meth:`PrimitiveSet.set_enclosure`), written into the ``best_*`` arrays."""
    lo, hi, face_ids = prims.enclosure
    with np.errstate(divide='ignore', invalid='ignore'):
        t_axis = np.where(d > 0, (hi - o) / d, np.where(d < 0, (lo - o) / d, np.inf))
    axis = np.argmin(t_axis, 1)
    rows = np.arange(len(o))
    t = t_axis[rows, axis]
    positive = d[rows, axis] > 0
    hit = np.isfinite(t)
    best_t[hit] = t[hit]
    best_id[hit] = face_ids[2 * axis + positive][hit]
    inward = np.zeros((len(o), 3))
    inward[rows, axis] = np.where(positive, -1.0, 1.0)
    normal[hit] = inward[hit]


def _hit_boxes(prims: PrimitiveSet, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
    """Entry hits of rays (M) with boxes ``loc`` (M): t (inf: none), normal."""
    yaw = prims.box_yaw[loc]
    cos, sin = np.cos(yaw), np.sin(yaw)
    rel = o - prims.box_center[loc]
    lo = np.stack([cos * rel[:, 0] + sin * rel[:, 1], -sin * rel[:, 0] + cos * rel[:, 1],
                   rel[:, 2]], 1)
    ld = np.stack([cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1], d[:, 2]],
                  1)
    half = prims.box_half[loc]
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (-half - lo) / ld
        t2 = (half - lo) / ld
    # a ray parallel to a slab: inside it -> (-inf, inf), outside -> empty
    parallel = ld == 0
    inside_slab = np.abs(lo) <= half
    t_lo = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), np.minimum(t1, t2))
    t_hi = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), np.maximum(t1, t2))
    axis = np.argmax(t_lo, 1)
    rows = np.arange(len(o))
    t_near = t_lo[rows, axis]
    hit = (t_near <= t_hi.min(1)) & (t_near > RAY_EPS)
    n_local = np.zeros((len(o), 3))
    n_local[rows, axis] = -np.sign(ld[rows, axis])
    nrm = np.stack([cos * n_local[:, 0] - sin * n_local[:, 1],
                    sin * n_local[:, 0] + cos * n_local[:, 1], n_local[:, 2]], 1)
    return np.where(hit, t_near, np.inf), nrm


def _hit_cylinders(prims: PrimitiveSet, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
    rel = o - prims.cyl_center[loc]
    r, h = prims.cyl_radius[loc], prims.cyl_half[loc]
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dy * dy
    b = 2 * (rel[:, 0] * dx + rel[:, 1] * dy)
    c = rel[:, 0] ** 2 + rel[:, 1] ** 2 - r * r
    disc = b * b - 4 * a * c
    top = rel[:, 2] > h
    with np.errstate(divide='ignore', invalid='ignore'):
        t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        z_side = rel[:, 2] + t_side * dz
        side_ok = (disc >= 0) & (a > 0) & (np.abs(z_side) <= h) & (t_side > RAY_EPS)
        # discs: entering through the top (from above) or the bottom (from below)
        t_cap = np.where(top, h - rel[:, 2], -h - rel[:, 2]) / dz
        cx = rel[:, 0] + t_cap * dx
        cy = rel[:, 1] + t_cap * dy
        cap_ok = ((top & (dz < 0)) | ((rel[:, 2] < -h) & (dz > 0))) & \
            (cx * cx + cy * cy <= r * r) & (t_cap > RAY_EPS)
    t_side = np.where(side_ok, t_side, np.inf)
    t_cap = np.where(cap_ok, t_cap, np.inf)
    on_side = t_side <= t_cap
    t = np.minimum(t_side, t_cap)
    p = rel + np.where(np.isfinite(t), t, 0)[:, None] * d
    radial = p[:, :2] / r[:, None]
    zeros = np.zeros(len(o))
    nrm = np.where(on_side[:, None], np.stack([radial[:, 0], radial[:, 1], zeros], 1),
                   np.stack([zeros, zeros, np.where(top, 1.0, -1.0)], 1))
    return t, nrm


def _hit_spheres(prims: PrimitiveSet, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
    rel = o - prims.sph_center[loc]
    r = prims.sph_radius[loc]
    a = np.sum(d * d, 1)
    b = 2 * np.sum(rel * d, 1)
    c = np.sum(rel * rel, 1) - r * r
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    t = np.where((disc >= 0) & (t > RAY_EPS), t, np.inf)
    p = rel + np.where(np.isfinite(t), t, 0)[:, None] * d
    return t, p / r[:, None]

