"""The bounding-sphere prefilter and the exact ray/primitive tests of
:mod:`.raycast` as one numba kernel (:func:`cast_chunk`), used when numba is
installed; :func:`.raycast.cast` imports this module on its first call
(numba's import takes ~0.5 s) and the kernels compile on their first call
(cached on disk beside this file).

The NumPy path builds (rays x primitives) float32 arrays for the prefilter,
then evaluates ~30 array operations over every pair that passes; this loop
does the same arithmetic pair by pair, in the same order and precision (no
fused multiply-add; the matrix products and the primitives' ``cos`` /
``sin`` of yaw computed by NumPy as there), and keeps each ray's first
nearest hit as :func:`.raycast._nearest_hit` does, so both paths give the
same bits (``tests/test_benchmark/test_world_fast_paths.py``). Divisions by
zero, which NumPy turns into ``inf`` and then discards, are skipped instead
(numba would raise).
"""
from __future__ import annotations

import math

import numpy as np

from d3l.utils.jit import have_numba, njit_now

from .raycast import RAY_EPS

_INF = math.inf


@njit_now
def _slab(lo, ld, half):
    """(entry, exit) t of a ray along one axis of a box's slab."""
    if ld == 0:  # parallel to the slab: inside it -> (-inf, inf), outside -> empty
        if abs(lo) <= half:
            return -_INF, _INF
        return _INF, -_INF
    t1 = (-half - lo) / ld
    t2 = (half - lo) / ld
    return min(t1, t2), max(t1, t2)


@njit_now
def _box(ox, oy, oz, dx, dy, dz, cx, cy, cz, hx, hy, hz, c, s):
    """Entry t (inf: none) and normal of one ray and one box (:func:`.raycast._hit_boxes`)."""
    rx, ry, rz = ox - cx, oy - cy, oz - cz
    ld0, ld1 = c * dx + s * dy, -s * dx + c * dy
    lo0, hi0 = _slab(c * rx + s * ry, ld0, hx)
    lo1, hi1 = _slab(-s * rx + c * ry, ld1, hy)
    lo2, hi2 = _slab(rz, dz, hz)
    # np.argmax: the first maximum
    t_near, n0, n1, n2 = lo0, -np.sign(ld0), 0.0, 0.0
    if lo1 > t_near:
        t_near, n0, n1 = lo1, 0.0, -np.sign(ld1)
    if lo2 > t_near:
        t_near, n0, n1, n2 = lo2, 0.0, 0.0, -np.sign(dz)
    hit = (t_near <= min(hi0, hi1, hi2)) and (t_near > RAY_EPS)
    normal = (c * n0 - s * n1, s * n0 + c * n1, n2)
    return (t_near if hit else _INF), normal


@njit_now
def _cylinder(ox, oy, oz, dx, dy, dz, cx, cy, cz, r, h):
    """:func:`.raycast._hit_cylinders` for one pair."""
    rx, ry, rz = ox - cx, oy - cy, oz - cz
    a = dx * dx + dy * dy
    b = 2 * (rx * dx + ry * dy)
    cc = rx * rx + ry * ry - r * r
    disc = b * b - 4 * a * cc
    top = rz > h
    t_side = _INF
    if a > 0 and disc >= 0:
        t = (-b - math.sqrt(max(disc, 0.0))) / (2 * a)
        if abs(rz + t * dz) <= h and t > RAY_EPS:
            t_side = t
    t_cap = _INF
    if (top and dz < 0) or (rz < -h and dz > 0):  # entering through a disc
        t = ((h - rz) if top else (-h - rz)) / dz
        px, py = rx + t * dx, ry + t * dy
        if px * px + py * py <= r * r and t > RAY_EPS:
            t_cap = t
    on_side = t_side <= t_cap
    t = min(t_side, t_cap)
    step = t if t != _INF else 0.0
    if on_side:
        normal = ((rx + step * dx) / r, (ry + step * dy) / r, 0.0)
    else:
        normal = (0.0, 0.0, 1.0 if top else -1.0)
    return t, normal


@njit_now
def _sphere(ox, oy, oz, dx, dy, dz, cx, cy, cz, r):
    """:func:`.raycast._hit_spheres` for one pair (sums left to right, as
    NumPy reduces three values)."""
    rx, ry, rz = ox - cx, oy - cy, oz - cz
    a = (dx * dx + dy * dy) + dz * dz
    b = 2 * ((rx * dx + ry * dy) + rz * dz)
    cc = ((rx * rx + ry * ry) + rz * rz) - r * r
    disc = b * b - 4 * a * cc
    t = _INF
    if a > 0 and disc >= 0:  # a zero direction: NumPy's nan, discarded
        t = (-b - math.sqrt(max(disc, 0.0))) / (2 * a)
        if not t > RAY_EPS:
            t = _INF
    step = t if t != _INF else 0.0
    return t, ((rx + step * dx) / r, (ry + step * dy) / r, (rz + step * dz) / r)


@njit_now
def _pair_hit(o, d, i, j, kind, local, geo):
    """Exact t and normal of ray ``i`` and primitive ``j``."""
    box_center, box_half, box_cos, box_sin, cyl_center, cyl_radius, cyl_half, sph_center, \
        sph_radius = geo
    m = local[j]
    ox, oy, oz, dx, dy, dz = o[i, 0], o[i, 1], o[i, 2], d[i, 0], d[i, 1], d[i, 2]
    if kind[j] == 0:
        return _box(ox, oy, oz, dx, dy, dz, box_center[m, 0], box_center[m, 1],
                    box_center[m, 2], box_half[m, 0], box_half[m, 1], box_half[m, 2],
                    box_cos[m], box_sin[m])
    if kind[j] == 1:
        return _cylinder(ox, oy, oz, dx, dy, dz, cyl_center[m, 0], cyl_center[m, 1],
                         cyl_center[m, 2], cyl_radius[m], cyl_half[m])
    return _sphere(ox, oy, oz, dx, dy, dz, sph_center[m, 0], sph_center[m, 1],
                   sph_center[m, 2], sph_radius[m])


@njit_now
def _cast_kernel(o, d, dc, oc, d_sq, d_o, o_sq, centre_sq, radius_sq, columns, offset, kind,
                 local, geo, best_t, best_id, normal):
    two = np.float32(2)
    for i in range(dc.shape[0]):
        for c in range(dc.shape[1]):
            # raycast._near_pairs' float32 test, operation for operation
            dw = dc[i, c] - d_o[i]
            w_sq = (centre_sq[c] - two * oc[i, c]) + o_sq[i]
            r_d = radius_sq[c] * d_sq[i]
            if not (w_sq * d_sq[i] - dw * dw <= r_d and dw > -np.sqrt(r_d)):
                continue
            j = columns[c]
            t, n = _pair_hit(o, d, i, j, kind, local, geo)
            # strictly closer: the first of equal pairs (primitive order) wins, and
            # the enclosure's hit already in best_t wins a tie, as in raycast.cast
            k = i + offset
            if t < best_t[k]:
                best_t[k] = t
                best_id[k] = j
                normal[k, 0], normal[k, 1], normal[k, 2] = n[0], n[1], n[2]


def cast_chunk(prims, o, d, spheres, columns, offset, best_t, best_id, normal) -> bool:
    """Update ``best_*`` (rays ``offset + [0, len(o))``) with the hits on the
    primitives ``columns`` whose bounding ``spheres`` (as
    :func:`.raycast._near_pairs` takes them) the rays pass; returns False
    (nothing done) without numba."""
    if not have_numba():
        return False
    centre32, radius_sq, centre_sq = spheres
    # the matrix products and per-ray sums exactly as raycast._near_pairs
    o32, d32 = o.astype(np.float32), d.astype(np.float32)
    d_sq = np.sum(d * d, 1).astype(np.float32)
    d_o = np.sum(d * o, 1).astype(np.float32)
    o_sq = np.sum(o * o, 1).astype(np.float32)
    yaw = prims.box_yaw
    geo = (prims.box_center, prims.box_half, np.cos(yaw), np.sin(yaw), prims.cyl_center,
           prims.cyl_radius, prims.cyl_half, prims.sph_center, prims.sph_radius)
    _cast_kernel(o, d, d32 @ centre32.T, o32 @ centre32.T, d_sq, d_o, o_sq, centre_sq,
                 radius_sq, columns, offset, prims.kind, prims.local, geo, best_t, best_id,
                 normal)
    return True
