"""The exact ray/primitive tests of :mod:`.raycast` as one numba kernel
(:func:`nearest_hits`), used when numba is installed; :func:`.raycast.cast`
imports this module on its first call (numba's import takes ~0.5 s) and the
kernels compile on their first call (cached on disk beside this file).

The NumPy path evaluates ~30 array operations over every (ray, primitive)
pair that passes the bounding-sphere prefilter; this loop does the same
arithmetic pair by pair, in the same order (no fused multiply-add, the
primitives' ``cos`` / ``sin`` of yaw computed once by NumPy), and keeps each
ray's first nearest hit as :func:`.raycast._nearest_hit` does, so both paths
give the same bits (``tests/test_benchmark/test_world_raycast_kernel.py``).
Divisions by zero, which NumPy turns into ``inf`` and then discards, are
skipped instead (numba would raise)."""
from __future__ import annotations

import math

import numpy as np

from .raycast import RAY_EPS

try:
    import numba
except ImportError:  # pragma: no cover - raycast.cast takes its NumPy path
    numba = None

_INF = math.inf


def _njit(fn):
    return fn if numba is None else numba.njit(cache=True, nogil=True)(fn)


@_njit
def _slab(lo, ld, half):
    """(entry, exit) t of a ray along one axis of a box's slab."""
    if ld == 0:  # parallel to the slab: inside it -> (-inf, inf), outside -> empty
        if abs(lo) <= half:
            return -_INF, _INF
        return _INF, -_INF
    t1 = (-half - lo) / ld
    t2 = (half - lo) / ld
    return min(t1, t2), max(t1, t2)


@_njit
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


@_njit
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


@_njit
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


@_njit
def _nearest_hits_kernel(o, d, ray, prim, offset, kind, local, box_center, box_half,
                         box_cos, box_sin, cyl_center, cyl_radius, cyl_half, sph_center,
                         sph_radius, best_t, best_id, normal):
    for p in range(len(ray)):
        r, j = ray[p], prim[p]
        k, m = kind[j], local[j]
        ox, oy, oz, dx, dy, dz = o[r, 0], o[r, 1], o[r, 2], d[r, 0], d[r, 1], d[r, 2]
        if k == 0:
            t, n = _box(ox, oy, oz, dx, dy, dz, box_center[m, 0], box_center[m, 1],
                        box_center[m, 2], box_half[m, 0], box_half[m, 1], box_half[m, 2],
                        box_cos[m], box_sin[m])
        elif k == 1:
            t, n = _cylinder(ox, oy, oz, dx, dy, dz, cyl_center[m, 0], cyl_center[m, 1],
                             cyl_center[m, 2], cyl_radius[m], cyl_half[m])
        else:
            t, n = _sphere(ox, oy, oz, dx, dy, dz, sph_center[m, 0], sph_center[m, 1],
                           sph_center[m, 2], sph_radius[m])
        i = r + offset
        # strictly closer: the first of equal pairs (primitive order) wins, and
        # the enclosure's hit already in best_t wins a tie, as in raycast.cast
        if t < best_t[i]:
            best_t[i] = t
            best_id[i] = j
            normal[i, 0], normal[i, 1], normal[i, 2] = n[0], n[1], n[2]


def nearest_hits(prims, o, d, ray, prim, offset, best_t, best_id, normal) -> bool:
    """Update ``best_*`` (rays ``offset + ray``) with the exact hits of the
    pairs ``(ray, prim)``, grouped by ray in primitive order; returns False
    (nothing done) without numba."""
    if numba is None:
        return False
    yaw = prims.box_yaw
    _nearest_hits_kernel(o, d, ray, prim, offset, prims.kind, prims.local, prims.box_center,
                         prims.box_half, np.cos(yaw), np.sin(yaw), prims.cyl_center,
                         prims.cyl_radius, prims.cyl_half, prims.sph_center, prims.sph_radius,
                         best_t, best_id, normal)
    return True
