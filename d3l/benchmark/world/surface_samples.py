"""Surface areas of the primitives of a :class:`~.primitives.PrimitiveSet`
and area-uniform surface samples with outward normals."""
from __future__ import annotations

from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:
    from .primitives import PrimitiveSet


def areas(prims: PrimitiveSet) -> np.ndarray:
    """(P,) sampled surface area of each primitive (selected box faces)."""
    prims.freeze()
    out = np.zeros(len(prims.kind))
    if len(prims.box_ids):
        out[prims.box_ids] = (_box_face_areas(prims) * prims.box_faces).sum(1)
    if len(prims.cyl_ids):
        r, h = prims.cyl_radius, prims.cyl_half
        out[prims.cyl_ids] = 2 * np.pi * r * 2 * h + 2 * np.pi * r * r
    if len(prims.sph_ids):
        out[prims.sph_ids] = 4 * np.pi * prims.sph_radius ** 2
    return out


def _box_face_areas(prims: PrimitiveSet) -> np.ndarray:
    hx, hy, hz = prims.box_half.T
    return 4 * np.stack([hy * hz, hy * hz, hx * hz, hx * hz, hx * hy, hx * hy], 1)


def sample_surface(prims: PrimitiveSet, counts: np.ndarray, rng: np.random.Generator
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``counts[i]`` area-uniform samples on primitive ``i``.

    Returns points (N, 3), outward unit normals (N, 3) and the primitive
    index (N,) of each sample, primitives in index order.
    """
    prims.freeze()
    counts = np.asarray(counts, np.int64)
    if counts.shape != (len(prims.kind),):
        raise ValueError(f'counts must have one entry per primitive ({len(prims.kind)}), '
                         f'got shape {counts.shape}')
    owner = np.repeat(np.arange(len(counts)), counts)
    points = np.zeros((len(owner), 3))
    normals = np.zeros((len(owner), 3))
    kind = prims.kind[owner]
    loc = prims.local[owner]
    for k, fn in enumerate((_sample_boxes, _sample_cylinders, _sample_spheres)):
        sel = np.flatnonzero(kind == k)
        if len(sel):
            points[sel], normals[sel] = fn(prims, loc[sel], rng)
    return points, normals, owner


def _sample_boxes(prims: PrimitiveSet, loc: np.ndarray, rng: np.random.Generator):
    # each box's face-area cumsum once, then per sample (the same rows as
    # a cumsum of the per-sample weights)
    cum = np.cumsum(_box_face_areas(prims) * prims.box_faces, 1)[loc]
    pick = (rng.random(len(loc)) * cum[:, -1])[:, None]
    face = np.minimum((cum <= pick).sum(1), 5)
    axis, sign = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
    half = prims.box_half[loc]
    local = (rng.random((len(loc), 3)) * 2 - 1) * half
    rows = np.arange(len(loc))
    local[rows, axis] = sign * half[rows, axis]
    n_local = np.zeros((len(loc), 3))
    n_local[rows, axis] = sign
    yaw = prims.box_yaw[loc]
    cos, sin = np.cos(yaw), np.sin(yaw)

    def rotate(v):
        return np.stack([cos * v[:, 0] - sin * v[:, 1], sin * v[:, 0] + cos * v[:, 1],
                         v[:, 2]], 1)
    return rotate(local) + prims.box_center[loc], rotate(n_local)


def _sample_cylinders(prims: PrimitiveSet, loc: np.ndarray, rng: np.random.Generator):
    r, h = prims.cyl_radius[loc], prims.cyl_half[loc]
    side, cap = 4 * np.pi * r * h, np.pi * r * r
    on_side = rng.random(len(loc)) * (side + 2 * cap) < side
    theta = rng.uniform(0, 2 * np.pi, len(loc))
    radius = np.where(on_side, r, r * np.sqrt(rng.random(len(loc))))
    top = rng.random(len(loc)) < 0.5
    z = np.where(on_side, rng.uniform(-1, 1, len(loc)) * h, np.where(top, h, -h))
    points = np.stack([radius * np.cos(theta), radius * np.sin(theta), z], 1)
    normals = np.where(on_side[:, None],
                       np.stack([np.cos(theta), np.sin(theta), np.zeros(len(loc))], 1),
                       np.stack([np.zeros(len(loc)), np.zeros(len(loc)),
                                 np.where(top, 1.0, -1.0)], 1))
    return points + prims.cyl_center[loc], normals


def _sample_spheres(prims: PrimitiveSet, loc: np.ndarray, rng: np.random.Generator):
    normals = rng.normal(size=(len(loc), 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return prims.sph_center[loc] + normals * prims.sph_radius[loc][:, None], normals

