"""The nearby-pairs loop of :func:`.distance.near_any` as a numba kernel
(:func:`near_any_pairs`), used when numba is installed; imported on the first
call (numba's import takes ~0.5 s), compiled once (cached on disk beside
this file).

Each exact distance repeats :mod:`.distance`'s NumPy arithmetic operation
for operation (``np.linalg.norm`` sums the three squares left to right; no
fused multiply-add; ``cos`` / ``sin`` of yaw computed by NumPy), so the
answers are the NumPy path's bit for bit
(``tests/test_benchmark/test_world_fast_paths.py``).
"""
from __future__ import annotations

import math

import numpy as np

from d3l.utils.jit import have_numba, njit_now


@njit_now
def _sdf_pair(px, py, pz, j, kind, local, geo):
    """Signed distance of one point to primitive ``j`` (:func:`.distance.sdf`)."""
    box_center, box_half, box_cos, box_sin, cyl_center, cyl_radius, cyl_half, sph_center, \
        sph_radius = geo
    m = local[j]
    if kind[j] == 0:
        c, s = box_cos[m], box_sin[m]
        rx, ry, rz = px - box_center[m, 0], py - box_center[m, 1], pz - box_center[m, 2]
        q0 = abs(c * rx + s * ry) - box_half[m, 0]
        q1 = abs(-s * rx + c * ry) - box_half[m, 1]
        q2 = abs(rz) - box_half[m, 2]
        e0, e1, e2 = max(q0, 0.0), max(q1, 0.0), max(q2, 0.0)
        return math.sqrt((e0 * e0 + e1 * e1) + e2 * e2) + min(max(q0, q1, q2), 0.0)
    if kind[j] == 1:
        rx, ry, rz = px - cyl_center[m, 0], py - cyl_center[m, 1], pz - cyl_center[m, 2]
        q0 = math.hypot(rx, ry) - cyl_radius[m]
        q1 = abs(rz) - cyl_half[m]
        e0, e1 = max(q0, 0.0), max(q1, 0.0)
        return math.sqrt(e0 * e0 + e1 * e1) + min(max(q0, q1), 0.0)
    rx, ry, rz = px - sph_center[m, 0], py - sph_center[m, 1], pz - sph_center[m, 2]
    return math.sqrt((rx * rx + ry * ry) + rz * rz) - sph_radius[m]


@njit_now
def _near_any_kernel(points, order, starts, stops, lo, hi, exclude, eps, kind, local, geo,
                     out):
    for j in range(len(starts)):
        for k in range(starts[j], stops[j]):
            i = order[k]
            if out[i] or exclude[i] == j:
                continue
            px, py, pz = points[i, 0], points[i, 1], points[i, 2]
            if py < lo[j, 1] or py > hi[j, 1] or pz < lo[j, 2] or pz > hi[j, 2]:
                continue
            if _sdf_pair(px, py, pz, j, kind, local, geo) <= eps:
                out[i] = True


def near_any_pairs(prims, points, order, starts, stops, lo, hi, exclude, eps, out) -> bool:
    """Fill ``out`` as :func:`.distance.near_any`'s loop does (``exclude``: -1
    for none); returns False (nothing done) without numba."""
    if not have_numba():
        return False
    yaw = prims.box_yaw
    geo = (prims.box_center, prims.box_half, np.cos(yaw), np.sin(yaw), prims.cyl_center,
           prims.cyl_radius, prims.cyl_half, prims.sph_center, prims.sph_radius)
    _near_any_kernel(points, order, starts, stops, lo, hi, exclude, float(eps), prims.kind,
                     prims.local, geo, out)
    return True
